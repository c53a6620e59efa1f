using System.Buffers.Binary;
using System.Globalization;
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
/// reason and the old chain stays; otherwise the swap is one atomic reference write (a first set applies with its
/// failed plugins, and its result says to retry it). A plugin the
/// new set leaves as it is (same key and revision, every VM up) keeps its VMs and their state, as an
/// unchanged WasmPlugin's ECDS resource is left alone in Istio: only new and changed plugins load.
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
    private volatile bool _disposed;
    private readonly Lock _errorsGate = new();
    private readonly List<LoadError> _errors = [];
    private LoadError? _lastRejected;
    private AppliedSet? _lastApplied;
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

    /// <summary>
    /// What is wrong now: the sets rejected since the last one applied, and the plugins of the serving set that did
    /// not load. Applying a set clears the rest, as Envoy clears a resource's error on its next good update.
    /// </summary>
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

    /// <summary>The last set applied, or null before the first.</summary>
    public AppliedSet? LastApplied
    {
        get
        {
            lock (_errorsGate)
            {
                return _lastApplied;
            }
        }
    }

    /// <summary>The last set rejected, marked superseded once a set was applied after it; null if none was.</summary>
    public LoadError? LastRejected
    {
        get
        {
            lock (_errorsGate)
            {
                return _lastRejected;
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

    /// <summary>
    /// Parses and applies <paramref name="content"/>, the bytes of the plugin file at <paramref name="path"/> (the
    /// watcher's, read once it settled: what it hashed is what applies). Never throws but for cancellation: any
    /// failure, expected (a malformed file, a missing module) or not, rejects the new set with the reason and the
    /// serving chain stays. A rejection whose reason equals <paramref name="quietIfReason"/> (a retry of a set already
    /// reported) is not logged, counted or recorded again. The result also holds each file:// module the set read: its
    /// stamp, taken just before reading it, and the hash of the bytes read.
    /// </summary>
    public async Task<FileApplyResult> ApplyFileAsync(string path, byte[] content, string? quietIfReason, CancellationToken cancellationToken)
    {
        IReadOnlyList<PluginSpec> specs;
        try
        {
            // As File.ReadAllText decodes: UTF-8 unless a byte order mark says otherwise.
            using var reader = new StreamReader(new MemoryStream(content, writable: false), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            specs = PluginFileParser.Parse(await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false), path);
        }
        catch (PluginFileException ex)
        {
            return new FileApplyResult(Reject(path, ex.Message, quietIfReason), []);
        }
        catch (Exception ex) when (!IsCancellation(ex, cancellationToken))
        {
            return new FileApplyResult(Reject(path, Unexpected("reading", ex), quietIfReason), []);
        }

        try
        {
            return await ApplyCoreAsync(specs, path, quietIfReason, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!IsCancellation(ex, cancellationToken))
        {
            return new FileApplyResult(Reject(path, Unexpected("applying", ex), quietIfReason), []);
        }
    }

    /// <summary>Rejects the plugin file at <paramref name="path"/> that could not be read (<paramref name="reason"/>); the serving chain stays.</summary>
    public FileApplyResult RejectFile(string path, string reason, string? quietIfReason) =>
        new(Reject(path, reason, quietIfReason), []);

    /// <summary>Reports a failure of the file watcher itself (it keeps watching); quiet when the reason repeats.</summary>
    public string ReportWatcherFailure(string path, Exception ex, string? quietIfReason) =>
        Reject(path, Unexpected("watching", ex), quietIfReason);

    /// <summary>
    /// Says that <paramref name="path"/> (the plugin file or a module) changed and a process still has it open for writing:
    /// the change waits for the writer to close it, at most <paramref name="patience"/>.
    /// </summary>
    public void ReportWriterStillOpen(string path, TimeSpan patience) => LogWriterStillOpen(_log, path, patience.TotalSeconds);

    /// <summary>Loads <paramref name="specs"/> off the request path and swaps them in; null on success, else the reason.</summary>
    public async Task<string?> ApplyAsync(IReadOnlyList<PluginSpec> specs, string source, CancellationToken cancellationToken) =>
        (await ApplyCoreAsync(specs, source, null, cancellationToken).ConfigureAwait(false)).Reason;

    private async Task<FileApplyResult> ApplyCoreAsync(IReadOnlyList<PluginSpec> specs, string source, string? quietIfReason, CancellationToken cancellationToken)
    {
        await _applyGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return new FileApplyResult("the proxy is shutting down: the plugin set was not applied", []);
            }

            var ordered = new List<PluginSpec>(specs);
            ordered.Sort(PluginOrder.Instance);
            var modules = new List<ModuleFile>();
            // Only an apply (under this gate) replaces the serving chain, so it owns its plugins while the set loads.
            var previous = Volatile.Read(ref _current);
            var entries = await Task.Run(() => Load(ordered, previous, modules), cancellationToken).ConfigureAwait(false);
            var failures = new List<string>();
            foreach (var entry in entries)
            {
                if (entry.LoadError is { } error)
                {
                    failures.Add(error);
                }
            }

            var rejection = failures.Count == 0 ? null : string.Join("; ", failures) + " (previous plugin set keeps serving)";
            if (rejection is not null && previous is not null)
            {
                // The plugins loaded for this set go; those it kept stay with the serving chain.
                foreach (var entry in entries)
                {
                    entry.Loaded?.Release();
                }

                return new FileApplyResult(Reject(source, rejection, quietIfReason), modules);
            }

            var chain = new PluginChain(Interlocked.Increment(ref _revision), entries, _options.TrafficMode);
            lock (_errorsGate)
            {
                // Earlier errors no longer describe what serves.
                _errors.Clear();
                _lastRejected = _lastRejected is null ? null : _lastRejected with { Superseded = true };
                _lastApplied = new AppliedSet(chain.LoadedAt, source, chain.Revision);
            }

            foreach (var failure in failures)
            {
                // First set: nothing to keep, so failed plugins apply their fail strategy per request.
                Record(source, failure);
            }

            // The old chain lets go of its plugins once its in-flight requests end: those the new one kept stay.
            Interlocked.Exchange(ref _current, chain)?.Retire();
            _metrics.Reloads.WithLabels("applied").Inc();
            LogApplied(_log, chain.Revision, entries.Count, source, Kept(entries), failures.Count);
            foreach (var entry in entries)
            {
                if (entry.LoadError is { } error)
                {
                    // Without this line only /ready, /config_dump and each request's failure would say so.
                    LogNotLoaded(_log, chain.Revision, error, entry.Spec.FailStrategy);
                }

                if (entry.Spec.UnmatchedTrafficMode(_options.TrafficMode) is { } never)
                {
                    LogNeverRuns(_log, never);
                }
            }
            // A first set with plugins that did not load is retried as a rejected one is: the retry keeps the plugins
            // that run, loads the others again, and is rejected with this same reason (quietly) while they still fail.
            return new FileApplyResult(null, modules, rejection);
        }
        finally
        {
            _applyGate.Release();
        }
    }

    private List<ChainEntry> Load(List<PluginSpec> ordered, PluginChain? serving, List<ModuleFile> modules)
    {
        var running = new Dictionary<string, ChainEntry>(StringComparer.Ordinal);
        foreach (var entry in serving?.Entries ?? [])
        {
            running[entry.Spec.Key] = entry;
        }

        var entries = new List<ChainEntry>(ordered.Count);
        try
        {
            foreach (var spec in ordered)
            {
                entries.Add(LoadOne(spec, running, modules));
            }
        }
        catch
        {
            // Cancelled part-way: let go of what this set took, so that no VM outlives it.
            foreach (var entry in entries)
            {
                entry.Loaded?.Release();
            }

            throw;
        }

        return entries;
    }

    /// <summary>The serving chain's plugin for <paramref name="spec"/> if it may be kept, else a freshly loaded one, else the load error.</summary>
    private ChainEntry LoadOne(PluginSpec spec, Dictionary<string, ChainEntry> running, List<ModuleFile> modules)
    {
        var metrics = MetricsFor(spec.Key);
        string revision = "";
        try
        {
            var wasm = ReadModule(spec, modules);
            var module = _runtime.Compile(wasm);
            var options = new PluginOptions
            {
                // plugin_name as Istio names the PluginConfig it sends Envoy: namespace.name.
                Name = $"{spec.Namespace}.{spec.Name}",
                LogName = spec.Key,
                RootId = spec.PluginName,
                VmId = spec.VmId ?? spec.Key,
                Configuration = Encoding.UTF8.GetBytes(spec.PluginConfig),
                Environment = spec.Env,
                Shards = _options.ShardsPerPlugin,
                MemoryLimitBytes = spec.MaxMemoryBytes,
                CallDeadline = spec.MaxCallDuration,
                MaxBodyBytes = _options.MaxBufferedBodyBytes,
            };
            revision = RevisionOf(module.Digest, options);
            if (Keep(running, spec.Key, revision) is { } kept)
            {
                return new ChainEntry(spec, revision, kept, null, metrics, reused: true);
            }

            var host = new PluginHost(spec.Key, _options, _callouts, metrics, _loggers.CreateLogger(PluginHost.LogCategory));
            return new ChainEntry(spec, revision, new LoadedPlugin(_runtime.LoadPlugin(module, options, host)), null, metrics);
        }
        catch (Exception ex) when (ex is PluginLoadException or PluginFileException or IOException or UnauthorizedAccessException)
        {
            return new ChainEntry(spec, revision, null, $"plugin {spec.Key} ({spec.Url}): {ex.Message}", metrics);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Last line of defence: whatever else loading throws fails this plugin, not the proxy.
            return new ChainEntry(spec, revision, null, $"plugin {spec.Key} ({spec.Url}): {Unexpected("loading", ex)}", metrics);
        }
    }

    /// <summary>
    /// The serving chain's plugin for <paramref name="key"/>, retained for the new set, if it runs exactly
    /// <paramref name="revision"/> with every VM shard up; else null and the plugin loads afresh. A plugin that did
    /// not load is not in the serving chain's set of loaded ones, so it is retried; one with a crashed shard gets
    /// a clean start rather than a set that is half state, half rebuilt.
    /// </summary>
    private static LoadedPlugin? Keep(Dictionary<string, ChainEntry> running, string key, string revision)
    {
        if (!running.TryGetValue(key, out var entry) || entry.Loaded is not { } loaded || !string.Equals(entry.Revision, revision, StringComparison.Ordinal))
        {
            return null;
        }

        if (loaded.Plugin.HealthyShards != loaded.Plugin.Options.Shards)
        {
            return null;
        }

        return loaded.TryRetain() ? loaded : null;
    }

    private static int Kept(List<ChainEntry> entries)
    {
        var kept = 0;
        foreach (var entry in entries)
        {
            kept += entry.Reused ? 1 : 0;
        }

        return kept;
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

    private static byte[] ReadModule(PluginSpec spec, List<ModuleFile> modules)
    {
        var path = ModuleUrl.LocalPath(spec.Url, out var error) ?? throw new PluginFileException(error ?? spec.Url);

        // Stamped before reading, so that a write racing the read shows up as a change on the next poll.
        var stamp = ModuleStamp.Of(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch
        {
            modules.Add(new ModuleFile(stamp, null));
            throw;
        }

        var sha256 = SHA256.HashData(bytes);
        modules.Add(new ModuleFile(stamp, sha256));
        if (spec.Sha256 is { } expected)
        {
            var actual = Convert.ToHexStringLower(sha256);
            if (!string.Equals(actual, expected, StringComparison.Ordinal))
            {
                throw new PluginFileException($"sha256 mismatch: the file has {actual}, the spec expects {expected}");
            }
        }

        return bytes;
    }

    /// <summary>
    /// What the plugin's VMs are built from, hashed: the module and every option a VM sees (plugin_name, root id,
    /// vm_id, configuration, environment, shards, limits). Phase, priority, failStrategy, mode and match are not in
    /// it: the chain applies them, the VMs never see them. Each field is length-prefixed, so no two differ only in
    /// where one field ends. Foreign functions are code, not data; the manager registers none.
    /// </summary>
    private static string RevisionOf(string digest, PluginOptions options)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Add(hash, digest);
        Add(hash, options.Name);
        Add(hash, options.RootId);
        Add(hash, options.VmId);
        AddBytes(hash, options.Configuration);
        AddBytes(hash, options.VmConfiguration);
        Add(hash, options.Environment.Count.ToString(CultureInfo.InvariantCulture));
        foreach (var (k, v) in options.Environment)
        {
            Add(hash, k);
            Add(hash, v);
        }

        Add(hash, string.Create(CultureInfo.InvariantCulture,
            $"{options.Shards} {options.MemoryLimitBytes} {options.CallDeadline.Ticks} {options.RebuildBackoff.Ticks} {options.MaxRebuildBackoff.Ticks}"));
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];

        static void AddBytes(IncrementalHash hash, ReadOnlySpan<byte> field)
        {
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, field.Length);
            hash.AppendData(length);
            hash.AppendData(field);
        }

        static void Add(IncrementalHash hash, string field) => AddBytes(hash, Encoding.UTF8.GetBytes(field));
    }

    private static bool IsCancellation(Exception ex, CancellationToken cancellationToken) =>
        ex is OperationCanceledException && cancellationToken.IsCancellationRequested;

    private static string Unexpected(string what, Exception ex) =>
        $"unexpected {ex.GetType().Name} while {what} the plugin set: {ex.Message}";

    private string Reject(string source, string reason, string? quietIfReason = null)
    {
        if (quietIfReason is not null && string.Equals(reason, quietIfReason, StringComparison.Ordinal))
        {
            // A retry that failed the same way: already logged and recorded.
            return reason;
        }

        LogRejected(_log, source, reason);
        _metrics.Reloads.WithLabels("rejected").Inc();
        var error = Record(source, reason);
        lock (_errorsGate)
        {
            _lastRejected = error;
        }

        return reason;
    }

    private LoadError Record(string source, string reason)
    {
        var error = new LoadError(DateTimeOffset.UtcNow, source, reason);
        lock (_errorsGate)
        {
            _errors.Add(error);
            if (_errors.Count > MaxErrors)
            {
                _errors.RemoveAt(0);
            }
        }

        return error;
    }

    public void Dispose()
    {
        // An apply still loading would install a chain after this cleared the serving one, and nobody would release
        // its VMs: wait for it (it is bounded by the plugins' CPU deadlines); applies after this refuse (ApplyCoreAsync).
        _disposed = true;
        var entered = _applyGate.Wait(TimeSpan.FromSeconds(30));
        try
        {
            Interlocked.Exchange(ref _current, null)?.Retire();
        }
        finally
        {
            if (entered)
            {
                _applyGate.Release();
            }
        }
    }

    /// <summary>
    /// The outcome of applying a plugin file: null or the rejection reason, the modules it read, and for a first set
    /// that applied with plugins that did not load, their errors.
    /// </summary>
    internal sealed record FileApplyResult(string? Reason, IReadOnlyList<ModuleFile> Modules, string? LoadErrors = null)
    {
        /// <summary>Why the file is to be retried (it was rejected, or some of its plugins did not load); null when it need not be.</summary>
        public string? Retry => Reason ?? LoadErrors;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "plugin chain revision {Revision} applied: {Count} plugin(s) from {Source}, {Kept} of them kept running, {Failed} did not load")]
    private static partial void LogApplied(ILogger logger, long revision, int count, string source, int kept, int failed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Reason}")]
    private static partial void LogNeverRuns(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message =
        "plugin chain revision {Revision} runs without a plugin that did not load: {Reason}; its requests get its failStrategy {FailStrategy} " +
        "until it loads (fix the module or its settings: the file is retried, at once when it or the module changes)")]
    private static partial void LogNotLoaded(ILogger logger, long revision, string reason, FailStrategy failStrategy);

    [LoggerMessage(Level = LogLevel.Information, Message =
        "{Path} changed and another process still has it open for writing: the change applies once the writer closes it " +
        "(at most {Seconds} s from now; write a temporary file and rename it over to apply at once)")]
    private static partial void LogWriterStillOpen(ILogger logger, string path, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "plugin set from {Source} rejected: {Reason}")]
    private static partial void LogRejected(ILogger logger, string source, string reason);
}
