using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Metrics;
using WasmOperator.Proxy.Proxying;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy.Chain;

/// <summary>
/// Owns the current <see cref="PluginChain"/>. A new set is loaded and configured off the request
/// path; if any plugin fails (and a chain is already serving) the whole set is rejected with the
/// reason and the old chain stays; otherwise the swap is one atomic reference write.
/// </summary>
internal sealed partial class ChainManager : IDisposable
{
    private const int MaxErrors = 20;
    private readonly ProxyWasmRuntime _runtime;
    private readonly ProxyOptions _options;
    private readonly CalloutClient _callouts;
    private readonly ProxyMetrics _metrics;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _applyGate = new(1, 1);
    private readonly Lock _errorsGate = new();
    private readonly List<LoadError> _errors = [];
    private readonly Dictionary<string, PluginMetrics> _pluginMetrics = new(StringComparer.Ordinal);
    private PluginChain? _current;
    private long _revision;

    public ChainManager(ProxyWasmRuntime runtime, ProxyOptions options, CalloutClient callouts, ProxyMetrics metrics, ILoggerFactory loggers)
    {
        _runtime = runtime;
        _options = options;
        _callouts = callouts;
        _metrics = metrics;
        _loggers = loggers;
        _log = loggers.CreateLogger<ChainManager>();
    }

    public ProxyWasmRuntime Runtime => _runtime;

    /// <summary>The serving chain, or null before the first set was applied.</summary>
    public PluginChain? Current => Volatile.Read(ref _current);

    public IReadOnlyList<LoadError> Errors
    {
        get
        {
            lock (_errorsGate)
            {
                return [.. _errors];
            }
        }
    }

    /// <summary>Acquires the serving chain for one request (release it when the request ends).</summary>
    public PluginChain? Acquire()
    {
        while (true)
        {
            var chain = Volatile.Read(ref _current);
            if (chain is null || chain.TryAcquire())
            {
                return chain;
            }
        }
    }

    /// <summary>Parses and applies a plugin file; returns null on success or the rejection reason.</summary>
    public async Task<string?> ApplyFileAsync(string path, CancellationToken cancellationToken)
    {
        IReadOnlyList<PluginSpec> specs;
        try
        {
            var text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
            specs = PluginFileParser.Parse(text, path);
        }
        catch (Exception ex) when (ex is PluginFileException or IOException or UnauthorizedAccessException)
        {
            return Reject(path, ex.Message);
        }

        return await ApplyAsync(specs, path, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Loads <paramref name="specs"/> off the request path and swaps them in; null on success, else the reason.</summary>
    public async Task<string?> ApplyAsync(IReadOnlyList<PluginSpec> specs, string source, CancellationToken cancellationToken)
    {
        await _applyGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var ordered = new List<PluginSpec>(specs);
            ordered.Sort(PluginOrder.Instance);
            var entries = await Task.Run(() => Load(ordered), cancellationToken).ConfigureAwait(false);
            var failures = new List<string>();
            foreach (var entry in entries)
            {
                if (entry.LoadError is { } error)
                {
                    failures.Add(error);
                }
            }

            var previous = Volatile.Read(ref _current);
            if (failures.Count > 0 && previous is not null)
            {
                foreach (var entry in entries)
                {
                    entry.Plugin?.Dispose();
                }

                return Reject(source, string.Join("; ", failures) + " (previous plugin set keeps serving)");
            }

            foreach (var failure in failures)
            {
                // First set: nothing to keep, so failed plugins apply their fail strategy per request.
                Record(source, failure);
            }

            var chain = new PluginChain(Interlocked.Increment(ref _revision), entries, _options.TrafficMode);
            previous = Interlocked.Exchange(ref _current, chain);
            previous?.Release();
            _metrics.Reloads.WithLabels("applied").Inc();
            LogApplied(_log, chain.Revision, entries.Count, source);
            return null;
        }
        finally
        {
            _applyGate.Release();
        }
    }

    private List<ChainEntry> Load(List<PluginSpec> ordered)
    {
        var entries = new List<ChainEntry>(ordered.Count);
        foreach (var spec in ordered)
        {
            var metrics = MetricsFor(spec.Key);
            string revision = "";
            try
            {
                var wasm = ReadModule(spec);
                var module = _runtime.Compile(wasm);
                revision = RevisionOf(module.Digest, spec);
                var options = new PluginOptions
                {
                    Name = spec.Name,
                    RootId = spec.PluginName,
                    VmId = spec.VmId ?? spec.Key,
                    Configuration = Encoding.UTF8.GetBytes(spec.PluginConfig),
                    Environment = spec.Env,
                    Shards = _options.ShardsPerPlugin,
                    MemoryLimitBytes = spec.MaxMemoryBytes,
                    CallDeadline = spec.MaxCallDuration,
                };
                var host = new PluginHost(spec.Key, _options, _callouts, _loggers.CreateLogger("WasmOperator.Proxy.Plugin"));
                var plugin = _runtime.LoadPlugin(module, options, host);
                entries.Add(new ChainEntry(spec, revision, plugin, null, metrics));
            }
            catch (Exception ex) when (ex is PluginLoadException or PluginFileException or IOException or UnauthorizedAccessException)
            {
                entries.Add(new ChainEntry(spec, revision, null, $"plugin {spec.Key} ({spec.Url}): {ex.Message}", metrics));
            }
        }

        return entries;
    }

    private PluginMetrics MetricsFor(string key)
    {
        lock (_pluginMetrics)
        {
            if (!_pluginMetrics.TryGetValue(key, out var metrics))
            {
                metrics = _metrics.For(key);
                _pluginMetrics[key] = metrics;
            }

            return metrics;
        }
    }

    private static byte[] ReadModule(PluginSpec spec)
    {
        if (!Uri.TryCreate(spec.Url, UriKind.Absolute, out var uri) || !uri.IsFile)
        {
            throw new PluginFileException($"url must be a file:// URL in stand-alone mode (the operator resolves oci/http modules), got '{spec.Url}'");
        }

        var bytes = File.ReadAllBytes(uri.LocalPath);
        if (spec.Sha256 is { } expected)
        {
            var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
            if (!string.Equals(actual, expected, StringComparison.Ordinal))
            {
                throw new PluginFileException($"sha256 mismatch: the file has {actual}, the spec expects {expected}");
            }
        }

        return bytes;
    }

    private static string RevisionOf(string digest, PluginSpec spec)
    {
        var text = new StringBuilder(digest).Append('\n').Append(spec.PluginName).Append('\n').Append(spec.PluginConfig);
        foreach (var (k, v) in spec.Env)
        {
            text.Append('\n').Append(k).Append('=').Append(v);
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }

    private string Reject(string source, string reason)
    {
        LogRejected(_log, source, reason);
        _metrics.Reloads.WithLabels("rejected").Inc();
        Record(source, reason);
        return reason;
    }

    private void Record(string source, string reason)
    {
        lock (_errorsGate)
        {
            _errors.Add(new LoadError(DateTimeOffset.UtcNow, source, reason));
            if (_errors.Count > MaxErrors)
            {
                _errors.RemoveAt(0);
            }
        }
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _current, null)?.Release();
        _applyGate.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "plugin chain revision {Revision} applied: {Count} plugin(s) from {Source}")]
    private static partial void LogApplied(ILogger logger, long revision, int count, string source);

    [LoggerMessage(Level = LogLevel.Error, Message = "plugin set from {Source} rejected: {Reason}")]
    private static partial void LogRejected(ILogger logger, string source, string reason);
}
