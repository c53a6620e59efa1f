using System.Collections.Concurrent;
using WasmOperator.Modules;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Check;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// Verify and check: re-hashes the cached bytes, compiles them with Wasmtime and checks the Proxy-Wasm ABI and
/// that the module starts with the plugin's root id. A verdict is kept per (digest, root id): 500 plugins on one
/// module compile it once.
/// </summary>
internal sealed class ModuleInspector(ProxyWasmRuntime runtime)
{
    private readonly ConcurrentDictionary<(string Digest, string RootId), Lazy<Task<ModuleCheckReport>>> _reports = new();

    public async Task<(ModuleCheckReport? Report, PluginOutcome? Failure)> InspectAsync(FetchedModule module, string? rootId, CancellationToken cancellationToken)
    {
        var key = (module.ModuleDigest, rootId ?? string.Empty);
        var lazy = _reports.GetOrAdd(key, k => new Lazy<Task<ModuleCheckReport>>(() => CheckAsync(module.Path, k.RootId)));
        ModuleCheckReport report;
        try
        {
            report = await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            _reports.TryRemove(key, out _);
            return (null, PluginOutcome.Transient(ConditionReasons.FetchFailed, $"cannot read the cached module {module.ModuleDigest}: {ex.Message}"));
        }

        if (report.Digest != module.ModuleDigest)
        {
            _reports.TryRemove(key, out _);
            return (null, PluginOutcome.Transient(ConditionReasons.FetchFailed,
                $"the cached module for {module.Url} hashes to {report.Digest}, not {module.ModuleDigest}; it will be fetched again"));
        }

        if (!report.IsLoadable)
        {
            return (report, PluginOutcome.Stalled(ConditionReasons.AbiRejected,
                $"module {module.ModuleDigest} from {module.Url} is not a loadable Proxy-Wasm module: {string.Join("; ", report.Problems)}", moduleRejected: true));
        }

        if (rootId is { Length: > 0 } && report.RejectedRootIds.TryGetValue(rootId, out var why))
        {
            return (report, PluginOutcome.Stalled(ConditionReasons.AbiRejected,
                $"module {module.ModuleDigest} did not start with spec.pluginName \"{rootId}\": {why}", moduleRejected: true));
        }

        return (report, null);
    }

    public static string Describe(AbiVersion version) => version switch
    {
        AbiVersion.V0_1_0 => "0.1.0",
        AbiVersion.V0_2_0 => "0.2.0",
        AbiVersion.V0_2_1 => "0.2.1",
        _ => "unknown",
    };

    private async Task<ModuleCheckReport> CheckAsync(string path, string rootId)
    {
        var bytes = await File.ReadAllBytesAsync(path).ConfigureAwait(false);
        return rootId.Length == 0 ? runtime.Check(bytes) : runtime.Check(bytes, [rootId]);
    }
}
