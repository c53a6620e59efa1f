using System.Collections.Frozen;
using Microsoft.Extensions.Logging;
using Wasmtime;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Shared;

namespace WasmOperator.ProxyWasm.Plugins;

/// <summary>
/// A loaded plugin: one root context of a compiled module running on N independent VM shards.
/// Create one <see cref="HttpStream"/> per request. Thread-safe.
/// </summary>
public sealed class ProxyWasmPlugin : IDisposable
{
    private readonly PluginShard[] _shards;

    // Per plugin, in the order threads first create a stream: the (few) threads that serve requests get
    // consecutive numbers, so they land on different shards whatever other threads did before.
    private readonly ThreadLocal<int> _threadSlot;
    private int _slots;
    private int _disposed;

    // Shards not shut down yet, once all started: the last one to go lets go of the compiled module (a shard whose root
    // context waits for proxy_done still runs it after Dispose).
    private int _shardsRunning;

    // The last line the plugin logged at error level or above while its shards started (see the constructor's catch).
    private string? _startupError;

    internal ProxyWasmPlugin(ProxyWasmRuntime runtime, CompiledModule module, PluginOptions options, IPluginHost host, ILogger log)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Shards, 1);
        if (module.MinimumMemoryPages * Memory.PageSize > options.MemoryLimitBytes)
        {
            // Wasmtime would refuse the instance with "memory minimum size of 256 pages exceeds memory limits", which
            // names neither the limit nor the field that sets it.
            throw new PluginLoadException(
                $"plugin '{options.Name}' (root id '{options.RootId}', module {module.Digest}) cannot start: the module needs at least " +
                $"{ByteSize.Format(module.MinimumMemoryPages * Memory.PageSize)} of memory ({module.MinimumMemoryPages} pages) but limits.maxMemoryBytes is " +
                $"{ByteSize.Format(options.MemoryLimitBytes)}; raise limits.maxMemoryBytes");
        }

        runtime.Retain(module);
        Runtime = runtime;
        Module = module;
        Options = options;
        Host = host;
        Log = log;
        SharedData = runtime.SharedDataFor(options.VmId);
        Metrics = runtime.Metrics.CreateScope();
        var foreign = new Dictionary<string, ForeignFunction>(BuiltInForeignFunctions.Create(options.MemoryLimitBytes), StringComparer.Ordinal);
        foreach (var (name, function) in options.ForeignFunctions)
        {
            foreign[name] = function;
        }

        ForeignFunctions = foreign.ToFrozenDictionary(StringComparer.Ordinal);
        _shards = new PluginShard[options.Shards];
        _threadSlot = new ThreadLocal<int>(() => Interlocked.Increment(ref _slots) - 1);
        try
        {
            for (var i = 0; i < _shards.Length; i++)
            {
                _shards[i] = new PluginShard(this, i);
                _shards[i].Build();
            }

            _shardsRunning = _shards.Length;
        }
        catch (Exception ex)
        {
            foreach (var shard in _shards)
            {
                shard?.Dispose(rootMayWait: false);
            }

            _threadSlot.Dispose();
            runtime.Release(module);
            // What the plugin said last at error level or above while it started, often the reason (proxy-runtime logs
            // "Missing root context factory for root id: ..." before it aborts): the failure alone reads proc_exit(255).
            var said = _startupError is { } line ? $"; the plugin logged: {line}" : "";
            if (ex is PluginLoadException load)
            {
                if (said.Length == 0)
                {
                    throw;
                }

                throw new PluginLoadException(load.Message + said, load) { ConfigurationRejected = load.ConfigurationRejected };
            }

            throw new PluginLoadException(
                $"plugin '{options.Name}' (root id '{options.RootId}', module {module.Digest}) failed to start: {(ex as VmStartException)?.Failure ?? new PluginFailure(WasmVm.Classify(ex), "start", ex.Message)}{said}", ex);
        }
    }

    /// <summary>The plugin's options.</summary>
    public PluginOptions Options { get; }

    /// <summary>The compiled module the shards run.</summary>
    public CompiledModule Module { get; }

    // The getters below read without the shard's gate: a thread that takes it must run, when it lets go,
    // the host events posted meanwhile (PluginShard.DrainDeferred), which a getter should not do.

    /// <summary>Total VM crashes over the plugin's life.</summary>
    public int CrashCount
    {
        get
        {
            var total = 0;
            foreach (var shard in _shards)
            {
                total += shard.CrashCount;
            }

            return total;
        }
    }

    /// <summary>Shards with a live VM right now.</summary>
    public int HealthyShards
    {
        get
        {
            var healthy = 0;
            foreach (var shard in _shards)
            {
                healthy += shard.Abi is null ? 0 : 1;
            }

            return healthy;
        }
    }

    internal IReadOnlyList<PluginShard> Shards => _shards;

    internal ProxyWasmRuntime Runtime { get; }

    internal IPluginHost Host { get; }

    internal ILogger Log { get; }

    internal SharedDataStore SharedData { get; }

    /// <summary>The ids this plugin's <c>proxy_define_metric</c> handed out; other plugins' metrics are out of reach.</summary>
    internal MetricScope Metrics { get; }

    /// <summary>Built-in and registered foreign functions by name.</summary>
    internal FrozenDictionary<string, ForeignFunction> ForeignFunctions { get; }

    /// <summary>
    /// Creates a stream context (on_context_create) on a healthy shard: first the calling thread's own
    /// shard (a socket event thread keeps using one VM, as an Envoy worker has its own; with at least as
    /// many shards as event threads, which is the default, no two share one), else any shard
    /// free right now, else it waits for a busy one. If no shard is healthy (all failed and backing off)
    /// the stream reports <see cref="FilterStatus.Failed"/>; so does one whose on_context_create trapped, on the one
    /// shard it tried.
    /// </summary>
    public HttpStream CreateHttpStream(IHttpStreamHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var count = _shards.Length;
        var start = (int)((uint)_threadSlot.Value % (uint)count);
        Span<bool> busy = count <= 64 ? stackalloc bool[count] : new bool[count];
        PluginFailure? last = null;
        for (var i = 0; i < count; i++)
        {
            var index = (start + i) % count;
            if (!_shards[index].Gate.TryEnter())
            {
                busy[index] = true;
                continue;
            }

            if (CreateOnEntered(_shards[index], host, ref last) is { } stream)
            {
                return stream;
            }
        }

        for (var i = 0; i < count; i++)
        {
            var index = (start + i) % count;
            if (busy[index])
            {
                _shards[index].Gate.Enter();
                if (CreateOnEntered(_shards[index], host, ref last) is { } stream)
                {
                    return stream;
                }
            }
        }

        return new HttpStream(host, PluginShard.Unavailable(last));
    }

    /// <summary>Called holding the shard's gate, which it releases: on_context_create there, or null if the shard is not healthy or trapped.</summary>
    private static HttpStream? CreateOnEntered(PluginShard shard, IHttpStreamHost host, ref PluginFailure? last)
    {
        HttpStream? stream = null;
        using (shard.HoldingGate())
        {
            if (!shard.EnsureHealthy() || shard.Abi is not { } abi)
            {
                last = shard.LastFailure ?? last;
                return null;
            }

            StreamContext? context = null;
            shard.CallDepth++;
            try
            {
                abi.Vm.Arm();
                context = abi.CreateStream(host);
                stream = new HttpStream(shard, shard.Generation, context);
            }
#pragma warning disable CA1031 // A trap in on_context_create fails this shard and this stream.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                // The stream fails with it; no other shard is tried. What traps here is this request's doing and would trap
                // there too: one request took down every shard in turn, holding its thread shards x the deadline (an Envoy
                // worker's VM failure stays on that worker). FAIL_RELOAD's retry gets one fresh attempt, as for any callback.
                last = shard.Fail(ex, "proxy_on_context_create", context);
                stream = new HttpStream(host, last);
            }
            finally
            {
                shard.CallDepth--;
            }
        }

        return stream;
    }

    internal void WriteLog(ProxyLogLevel level, string message)
    {
        if (level >= ProxyLogLevel.Error && _shardsRunning == 0)
        {
            // Still starting (no shard counted as running yet): kept for the load failure, if it comes to that.
            _startupError = message;
        }

        Host.Log(level, message);
        if (Log.IsEnabled(LogLevel.Debug))
        {
            Log.LogDebug("plugin {Plugin} [{Level}] {Message}", Options.Logged, level, message);
        }
    }

    /// <summary>A shard has shut down; the last one lets go of the compiled module.</summary>
    internal void ShardShutDown()
    {
        if (Interlocked.Decrement(ref _shardsRunning) == 0)
        {
            Runtime.Release(Module);
        }
    }

    /// <summary>
    /// Tears down every shard: no new streams, root on_done, then on_delete, timers stopped and the compiled module let go.
    /// A root whose on_done returns false keeps its VM (ticks, callout answers) until it calls proxy_done or
    /// <see cref="PluginOptions.RootDoneGrace"/> passes; this returns without waiting for it.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var shard in _shards)
        {
            shard.Dispose(rootMayWait: true);
        }

        _threadSlot.Dispose();
    }
}
