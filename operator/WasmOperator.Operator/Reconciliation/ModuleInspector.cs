using System.Text;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Modules;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Check;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// Verify and check: re-hashes the cached bytes, compiles them with Wasmtime, checks the Proxy-Wasm ABI and that
/// the module starts with the plugin's root id under the options a proxy will give it (spec.pluginConfig,
/// vmConfig.env, spec.limits; see <see cref="ProxyLoadOptions"/>). A verdict is kept per (digest, root id, those
/// options): 500 plugins on one module with one configuration compile and start it once. It is kept only while a
/// plugin was last inspected under it: each edit of pluginConfig or the limits would otherwise leave one behind
/// for the life of the process, so the verdicts are bounded by the plugins that exist.
/// </summary>
internal sealed class ModuleInspector(ProxyWasmRuntime runtime)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<VerdictKey, Verdict> _reports = [];

    // Plugin key → the verdict it was last inspected under; a verdict goes when its last holder moves on or goes.
    private readonly Dictionary<string, VerdictKey> _holders = new(StringComparer.Ordinal);

    /// <summary>How many verdicts are kept.</summary>
    public int KeptReports
    {
        get
        {
            lock (_gate)
            {
                return _reports.Count;
            }
        }
    }

    public async Task<(ModuleCheckReport? Report, PluginOutcome? Failure)> InspectAsync(string pluginKey, FetchedModule module, WasmPluginSpec spec, CancellationToken cancellationToken)
    {
        var options = ProxyLoadOptions.For(spec);
        var rootId = options.RootId;
        var key = new VerdictKey(module.ModuleDigest, rootId, ProxyLoadOptions.Fingerprint(options));
        var check = Hold(pluginKey, key, module.Path, options);
        ModuleCheckReport report;
        try
        {
            report = await check.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            Discard(key, check);
            return (null, PluginOutcome.Transient(ConditionReasons.FetchFailed, $"cannot read the cached module {module.ModuleDigest}: {ex.Message}"));
        }

        if (report.Digest != module.ModuleDigest)
        {
            Discard(key, check);
            return (null, PluginOutcome.Transient(ConditionReasons.FetchFailed,
                $"the cached module for {module.Url} hashes to {report.Digest}, not {module.ModuleDigest}; it will be fetched again"));
        }

        if (!report.IsLoadable)
        {
            return (report, PluginOutcome.Stalled(ConditionReasons.AbiRejected,
                $"module {module.ModuleDigest} from {module.Url} is not a loadable Proxy-Wasm module: {string.Join("; ", report.Problems)}", moduleRejected: true));
        }

        if (report.RejectedRootIds.TryGetValue(rootId, out var why))
        {
            return (report, PluginOutcome.Stalled(ConditionReasons.AbiRejected,
                Rejection(module, spec, options, why, report.ConfigurationRejectedRootIds.Contains(rootId)), moduleRejected: true));
        }

        return (report, null);
    }

    /// <summary>The plugin is gone: the verdict it held goes too, unless another plugin holds it.</summary>
    public void Forget(string pluginKey)
    {
        lock (_gate)
        {
            if (_holders.Remove(pluginKey, out var held))
            {
                Unhold(held);
            }
        }
    }

    public static string Describe(AbiVersion version) => version switch
    {
        AbiVersion.V0_1_0 => "0.1.0",
        AbiVersion.V0_2_0 => "0.2.0",
        AbiVersion.V0_2_1 => "0.2.1",
        _ => "unknown",
    };

    /// <summary>
    /// The imports a module makes that this host links to stubs, or null when it has none. The module still loads
    /// (proxy-wasm-abi.md 1.2), but Envoy refuses it as a missing import, and a call to one fails where it is made.
    /// </summary>
    public static string? HostGaps(ModuleCheckReport report)
    {
        var traps = new List<string>();
        var wasi = new List<string>();
        foreach (var name in report.UnknownImports)
        {
            (name.StartsWith("wasi_", StringComparison.Ordinal) ? wasi : traps).Add(name);
        }

        var gaps = new List<string>(3);
        if (traps.Count > 0)
        {
            gaps.Add($"imports the host does not provide: {string.Join(", ", traps)} (calls to them trap)");
        }

        if (report.MismatchedImports.Count > 0)
        {
            gaps.Add($"imports with another signature than the host's: {string.Join(", ", report.MismatchedImports)} (calls to them answer UNIMPLEMENTED or trap)");
        }

        if (wasi.Count > 0)
        {
            gaps.Add($"WASI functions the host does not provide: {string.Join(", ", wasi)} (calls to them answer ENOSYS)");
        }

        return gaps.Count == 0 ? null : string.Join("; ", gaps);
    }

    private static string Rejection(FetchedModule module, WasmPluginSpec spec, PluginOptions options, string why, bool configurationRejected)
    {
        var failure = LoadFailure.Parse(why);
        if (configurationRejected)
        {
            var config = spec.PluginConfig is null
                ? "(unset: an empty configuration)"
                : Shorten(Encoding.UTF8.GetString(options.Configuration));
            return $"module {module.ModuleDigest}: the plugin (spec.pluginName \"{options.RootId}\") rejected spec.pluginConfig {config}: {failure}; "
                + "fix spec.pluginConfig, or use a module that accepts it";
        }

        // Root ids are registered at run time (registerRootContext in AssemblyScript, a map in C++): the module has no list
        // of them to compare with, so the check starts it with the one asked for, and a failure creating that root context
        // is the module saying it has none of that name.
        if (failure.Callback == "proxy_on_context_create")
        {
            return $"module {module.ModuleDigest} could not create a root context for spec.pluginName \"{options.RootId}\" ({failure}); "
                + "set spec.pluginName to a root id the module registers (the operator cannot list them: a module registers them when it runs, "
                + "e.g. with registerRootContext(…, \"<id>\") in AssemblyScript)";
        }

        return $"module {module.ModuleDigest} did not start with spec.pluginName \"{options.RootId}\" under spec.limits "
            + $"(maxMemoryBytes {options.MemoryLimitBytes}, maxCallDuration {options.CallDeadline.TotalMilliseconds} ms): {failure}";
    }

    private static string Shorten(string text) => text.Length <= 200 ? text : string.Concat(text.AsSpan(0, 200), "…");

    private Lazy<Task<ModuleCheckReport>> Hold(string pluginKey, VerdictKey key, string path, PluginOptions options)
    {
        lock (_gate)
        {
            var holds = _holders.TryGetValue(pluginKey, out var held);
            if (!holds || held != key)
            {
                if (holds)
                {
                    Unhold(held);
                }

                _holders[pluginKey] = key;
                if (!_reports.TryGetValue(key, out var added))
                {
                    added = new Verdict();
                    _reports[key] = added;
                }

                added.Holders++;
            }

            var verdict = _reports[key];
            return verdict.Check ??= new Lazy<Task<ModuleCheckReport>>(() => CheckAsync(path, options));
        }
    }

    private void Unhold(VerdictKey key)
    {
        if (_reports.TryGetValue(key, out var verdict) && --verdict.Holders == 0)
        {
            _reports.Remove(key);
        }
    }

    /// <summary>A check that could not read the module is run again by the next inspection, unless one already was.</summary>
    private void Discard(VerdictKey key, Lazy<Task<ModuleCheckReport>> failed)
    {
        lock (_gate)
        {
            if (_reports.TryGetValue(key, out var verdict) && verdict.Check == failed)
            {
                verdict.Check = null;
            }
        }
    }

    private async Task<ModuleCheckReport> CheckAsync(string path, PluginOptions options)
    {
        var bytes = await File.ReadAllBytesAsync(path).ConfigureAwait(false);
        return runtime.Check(bytes, [options.RootId], options);
    }

    private readonly record struct VerdictKey(string Digest, string RootId, string Options);

    private sealed class Verdict
    {
        public Lazy<Task<ModuleCheckReport>>? Check { get; set; }

        public int Holders { get; set; }
    }
}
