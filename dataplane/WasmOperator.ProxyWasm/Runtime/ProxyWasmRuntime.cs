using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Wasmtime;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Check;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Shared;

namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>
/// The process-wide Proxy-Wasm host: one Wasmtime engine with epoch interruption and its ticker,
/// modules compiled once per digest (and cached precompiled on disk) and kept while a plugin runs them, shared data
/// and queues per vm_id, and the metric registry. Create one per process; thread-safe.
/// </summary>
public sealed class ProxyWasmRuntime : IDisposable
{
    private const string EngineSettings = "epoch-interruption;cranelift-speed";
    private readonly Dictionary<string, CompiledModule> _modules = new(StringComparer.Ordinal);

    // Modules no plugin runs, the longest idle first; released after IdleModuleGrace. Guards _modules too.
    private readonly LinkedList<CompiledModule> _idle = new();
    private readonly Lock _modulesGate = new();
    private readonly ConcurrentDictionary<string, SharedDataStore> _sharedData = new(StringComparer.Ordinal);

    // Shards of disposed plugins whose root context waits for proxy_done: ended when the runtime is.
    private readonly ConcurrentDictionary<PluginShard, byte> _waitingRoots = new();
    private readonly Lock _compileGate = new();
    private readonly Thread _ticker;
    // No spinning before each wait: the slim event's default spin is some sched_yields per tick, 100 times a second.
    private readonly ManualResetEventSlim _stopTicker = new(initialState: false, spinCount: 0);
    private int _disposed;
    private readonly ModuleCache? _cache;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ProxyWasmRuntimeOptions _options;
    private int _pluginLogLevel;

    /// <summary>Creates the engine and starts the epoch ticker.</summary>
    public ProxyWasmRuntime(ProxyWasmRuntimeOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        _options = options ?? new ProxyWasmRuntimeOptions();
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _pluginLogLevel = (int)_options.PluginLogLevel;
        using var config = new Config().WithEpochInterruption(true).WithOptimizationLevel(OptimizationLevel.Speed)
            .WithProfilingStrategy(_options.Profiling switch
            {
                WasmProfiling.PerfMap => ProfilingStrategy.PerfMap,
                WasmProfiling.JitDump => ProfilingStrategy.JitDump,
                _ => ProfilingStrategy.None,
            });
        Engine = new Engine(config);
        HostFunctions.EnsureSignatures(Engine);
        var version = typeof(Engine).Assembly.GetName().Version?.ToString() ?? "unknown";
        EngineKey = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"wasmtime-{version};{EngineSettings}")))[..16];
        if (_options.CacheDirectory is { } directory)
        {
            _cache = new ModuleCache(directory, EngineKey);
        }

        // A thread of its own, not a pool timer: the ticker enforces every call's CPU deadline, and a busy
        // or starved thread pool must not let a runaway guest keep its thread for seconds.
        _ticker = new Thread(RunTicker) { IsBackground = true, Name = "proxy-wasm epoch ticker" };
        _ticker.Start();
    }

    /// <summary>
    /// Lowest level of plugin log lines (<c>proxy_log</c>, WASI stdout/stderr) passed on, for every plugin, and what
    /// <c>proxy_get_log_level</c> answers: Envoy's process-wide <c>wasm</c> log component, changeable while plugins run.
    /// Below it a line costs one comparison; the message is not even read from the guest.
    /// </summary>
    public ProxyLogLevel PluginLogLevel
    {
        get => (ProxyLogLevel)Volatile.Read(ref _pluginLogLevel);
        set => Volatile.Write(ref _pluginLogLevel, (int)value);
    }

    /// <summary>Metrics plugins defined; the proxy exports them.</summary>
    public MetricRegistry Metrics { get; } = new();

    /// <summary>Key of the Wasmtime version and engine settings that precompiled code depends on.</summary>
    public string EngineKey { get; }

    internal Engine Engine { get; }

    /// <summary>The engine, for the compile-vs-precompiled benchmark.</summary>
    internal Engine EngineForBenchmarks => Engine;

    internal SharedQueueRegistry Queues { get; } = new();

    internal SharedDataStore SharedDataFor(string vmId) => _sharedData.GetOrAdd(vmId, static _ => new SharedDataStore());

    internal ulong DeadlineTicks(TimeSpan deadline) =>
        (ulong)Math.Max(1, Math.Ceiling(deadline.TotalMilliseconds / _options.EpochTick.TotalMilliseconds)) + 1;

    /// <summary>
    /// Compiles <paramref name="wasm"/> (or returns the module already compiled for its digest,
    /// or loads precompiled code from the disk cache). Throws <see cref="PluginLoadException"/> for
    /// invalid Wasm, a missing/unknown ABI marker or a missing allocator (<c>malloc</c> or <c>proxy_on_memory_allocate</c>).
    /// </summary>
    public CompiledModule Compile(ReadOnlySpan<byte> wasm)
    {
        var hex = Convert.ToHexStringLower(SHA256.HashData(wasm));
        var digest = $"sha256:{hex}";
        if (Cached(digest) is { } existing)
        {
            return existing;
        }

        lock (_compileGate)
        {
            if (Cached(digest) is { } compiledMeanwhile)
            {
                return compiledMeanwhile;
            }

            var module = _cache?.TryLoad(Engine, hex);
            var fromCache = module is not null;
            if (module is null)
            {
                try
                {
                    module = Module.FromBytes(Engine, digest, wasm);
                }
                catch (WasmtimeException ex)
                {
                    throw new PluginLoadException($"module {digest} is not valid WebAssembly: {ex.Message}", ex);
                }

                _cache?.Store(module, hex);
            }

            var abi = ModuleChecker.DetectAbi(module);
            if (abi == AbiVersion.Unknown)
            {
                module.Dispose();
                throw new PluginLoadException(
                    $"module {digest}: Missing or unknown Proxy-Wasm ABI version (exports none of proxy_abi_version_0_1_0, proxy_abi_version_0_2_0, proxy_abi_version_0_2_1); rebuild it with a Proxy-Wasm SDK");
            }

            if (ModuleChecker.DetectAllocator(module) is null)
            {
                // Refused here, as Envoy refuses it at load, not at the first hostcall that hands the plugin data.
                module.Dispose();
                throw new PluginLoadException($"module {digest} is not loadable: {ModuleChecker.MissingAllocator}");
            }

            var compiled = new CompiledModule(digest, abi, Engine, module, ImportLinking.Build(Engine, module), fromCache);
            lock (_modulesGate)
            {
                ReleaseExpired();
                _modules[digest] = compiled;
                MarkIdle(compiled);
            }

            return compiled;
        }
    }

    /// <summary>Compiled modules in memory: those plugins run and those idle for less than <see cref="ProxyWasmRuntimeOptions.IdleModuleGrace"/>.</summary>
    internal int CompiledModuleCount
    {
        get
        {
            lock (_modulesGate)
            {
                return _modules.Count;
            }
        }
    }

    /// <summary>The module compiled for <paramref name="digest"/>, its grace restarted if it is idle (a compile is a use).</summary>
    private CompiledModule? Cached(string digest)
    {
        lock (_modulesGate)
        {
            if (!_modules.TryGetValue(digest, out var module))
            {
                return null;
            }

            if (module.IdleNode is not null)
            {
                _idle.Remove(module.IdleNode);
                MarkIdle(module);
            }

            return module;
        }
    }

    /// <summary>A plugin starts on <paramref name="module"/>: it stays in memory until the plugin releases it.</summary>
    internal void Retain(CompiledModule module)
    {
        lock (_modulesGate)
        {
            if (module.Evicted)
            {
                throw new PluginLoadException(
                    $"module {module.Digest} was released from memory after {_options.IdleModuleGrace.TotalSeconds} s with no plugin running it; compile it again to start a plugin");
            }

            module.Users++;
            if (module.IdleNode is not null)
            {
                _idle.Remove(module.IdleNode);
                module.IdleNode = null;
            }
        }
    }

    /// <summary>A plugin that ran <paramref name="module"/> is gone; the last one to go starts the module's grace.</summary>
    internal void Release(CompiledModule module)
    {
        lock (_modulesGate)
        {
            if (--module.Users == 0 && !module.Evicted)
            {
                MarkIdle(module);
            }

            ReleaseExpired();
        }
    }

    /// <summary>Under the module gate: <paramref name="module"/> is idle from now on.</summary>
    private void MarkIdle(CompiledModule module)
    {
        module.IdleSinceMs = Environment.TickCount64;
        module.IdleNode = _idle.AddLast(module);
    }

    /// <summary>Under the module gate: disposes the modules idle for the grace or longer (no VM uses them).</summary>
    private void ReleaseExpired()
    {
        var now = Environment.TickCount64;
        var grace = (long)_options.IdleModuleGrace.TotalMilliseconds;
        while (_idle.First is { } oldest && now - oldest.Value.IdleSinceMs >= grace)
        {
            var module = oldest.Value;
            _idle.RemoveFirst();
            module.IdleNode = null;
            module.Evicted = true;
            _modules.Remove(module.Digest);
            module.Linker.Dispose();
            module.Module.Dispose();
        }
    }

    /// <summary>
    /// Starts a plugin on <see cref="PluginOptions.Shards"/> VMs (init, root context, on_vm_start,
    /// on_configure on each). Throws <see cref="PluginLoadException"/> if any step fails or returns false.
    /// </summary>
    public ProxyWasmPlugin LoadPlugin(CompiledModule module, PluginOptions options, IPluginHost host)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(host);
        return new ProxyWasmPlugin(this, module, options, host, _loggerFactory.CreateLogger<ProxyWasmPlugin>());
    }

    /// <summary>Checks a module without running a plugin: validity, ABI, imports, memory and allocator exports.</summary>
    public ModuleCheckReport Check(ReadOnlySpan<byte> wasm) => ModuleChecker.Check(this, wasm, []);

    /// <summary>As <see cref="Check(ReadOnlySpan{byte})"/>, and probes which of <paramref name="candidateRootIds"/> the module starts with.</summary>
    public ModuleCheckReport Check(ReadOnlySpan<byte> wasm, IReadOnlyList<string> candidateRootIds) =>
        ModuleChecker.Check(this, wasm, candidateRootIds);

    /// <summary>
    /// As <see cref="Check(ReadOnlySpan{byte}, IReadOnlyList{string})"/>, starting each candidate root with
    /// <paramref name="configuration"/> as its plugin configuration, so that the module's own
    /// <c>proxy_validate_configuration</c> and <c>proxy_on_configure</c> judge the configuration a proxy would load.
    /// </summary>
    public ModuleCheckReport Check(ReadOnlySpan<byte> wasm, IReadOnlyList<string> candidateRootIds, byte[] configuration) =>
        ModuleChecker.Check(this, wasm, candidateRootIds, new PluginOptions { Name = ModuleChecker.PluginName, Configuration = configuration });

    /// <summary>
    /// As <see cref="Check(ReadOnlySpan{byte}, IReadOnlyList{string}, byte[])"/>, starting each candidate root with
    /// <paramref name="options"/> as a proxy would load the plugin: its configuration, VM configuration, environment,
    /// memory limit and call deadline. The check sets the root id to each candidate and runs one shard.
    /// </summary>
    public ModuleCheckReport Check(ReadOnlySpan<byte> wasm, IReadOnlyList<string> candidateRootIds, PluginOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return ModuleChecker.Check(this, wasm, candidateRootIds, options);
    }

    /// <summary>Advances the epoch every <see cref="ProxyWasmRuntimeOptions.EpochTick"/> (interrupting guests past their deadline) until disposed.</summary>
    private void RunTicker()
    {
        while (!_stopTicker.Wait(_options.EpochTick))
        {
            Engine.IncrementEpoch();
        }
    }

    /// <summary>A disposed plugin's shard keeps its VM while its root context waits for proxy_done.</summary>
    internal void RootWaiting(PluginShard shard) => _waitingRoots.TryAdd(shard, 0);

    internal void RootGone(PluginShard shard) => _waitingRoots.TryRemove(shard, out _);

    /// <summary>Deletes root contexts still waiting for proxy_done, stops the ticker and releases the engine.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // While the ticker still bounds their on_delete.
        foreach (var shard in _waitingRoots.Keys)
        {
            shard.EndRootWait();
        }

        // Waits for a tick in progress, so none runs against the engine disposed below.
        _stopTicker.Set();
        _ticker.Join();
        _stopTicker.Dispose();

        lock (_modulesGate)
        {
            foreach (var module in _modules.Values)
            {
                module.Evicted = true;
                module.Linker.Dispose();
                module.Module.Dispose();
            }

            _modules.Clear();
            _idle.Clear();
        }

        Engine.Dispose();
    }

    internal static IPluginHost NullHost { get; } = new NullPluginHost();

    private sealed class NullPluginHost : IPluginHost
    {
        public Task<HttpCalloutResponse> SendHttpCalloutAsync(HttpCalloutRequest request, CancellationToken cancellationToken) =>
            Task.FromException<HttpCalloutResponse>(new InvalidOperationException("no callouts during a module check"));

        public Task<GrpcCalloutResponse> SendGrpcCalloutAsync(GrpcCalloutRequest request, CancellationToken cancellationToken) =>
            Task.FromException<GrpcCalloutResponse>(new InvalidOperationException("no callouts during a module check"));

        public bool TryGetProperty(string path, out byte[] value)
        {
            value = [];
            return false;
        }

        public void Log(ProxyLogLevel level, string message)
        {
        }
    }
}
