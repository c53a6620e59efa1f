using BenchmarkDotNet.Attributes;
using Wasmtime;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Benchmarks;

/// <summary>
/// Proxy-Wasm host hot paths: the add_header request lifecycle (target ≤ 5 µs, ≤ 1 KiB allocated),
/// get_header_map_pairs with 20 headers, shard rebuild after a trap, and compile vs precompiled load.
/// </summary>
[MemoryDiagnoser]
public class ProxyWasmBenchmarks
{
    private ProxyWasmRuntime? _runtimeOrNull;
    private ProxyWasmPlugin? _addHeaderOrNull;
    private ProxyWasmPlugin? _pairsOrNull;
    private ProxyWasmPlugin? _addHeaderWatOrNull;
    private ProxyWasmPlugin? _trappingOrNull;
    private readonly BenchmarkStreamHost _request = new();
    private readonly BenchmarkStreamHost _twentyHeaders = new();
    private readonly BenchmarkStreamHost _trapRequest = new();
    private readonly BenchmarkStreamHost _healthyRequest = new();
    private readonly List<HttpStream> _held = [];
    private byte[] _wasm = [];
    private byte[] _serialized = [];

    private ProxyWasmRuntime _runtime => _runtimeOrNull ?? throw new InvalidOperationException("GlobalSetup has not run");

    private ProxyWasmPlugin _addHeader => _addHeaderOrNull ?? throw new InvalidOperationException("GlobalSetup has not run");

    private ProxyWasmPlugin _pairs => _pairsOrNull ?? throw new InvalidOperationException("GlobalSetup has not run");

    private ProxyWasmPlugin _addHeaderWat => _addHeaderWatOrNull ?? throw new InvalidOperationException("GlobalSetup has not run");

    private ProxyWasmPlugin _trapping => _trappingOrNull ?? throw new InvalidOperationException("GlobalSetup has not run");

    [GlobalSetup]
    public void Setup()
    {
        // BENCH_WASM_PROFILER=perfmap: `perf record -p <pid>` of a --soak names the guest's functions.
        _runtimeOrNull = new ProxyWasmRuntime(new ProxyWasmRuntimeOptions
        {
            Profiling = Environment.GetEnvironmentVariable("BENCH_WASM_PROFILER") == "perfmap" ? WasmProfiling.PerfMap : WasmProfiling.None,
        });
        var host = new BenchmarkPluginHost();
        _wasm = BenchmarkModules.Plugin("add_header");
        _addHeaderOrNull = _runtime.LoadPlugin(_runtime.Compile(_wasm), new PluginOptions { Name = "add_header", RootId = "add_header", Shards = 1 }, host);
        _addHeaderWatOrNull = _runtime.LoadPlugin(_runtime.Compile(Module.ConvertText(BenchmarkModules.AddHeaderWat).ToArray()), new PluginOptions { Name = "add_header_wat", Shards = 1 }, host);
        _pairsOrNull = _runtime.LoadPlugin(_runtime.Compile(Module.ConvertText(BenchmarkModules.HeaderPairsWat).ToArray()), new PluginOptions { Name = "pairs", Shards = 1 }, host);
        _trappingOrNull = _runtime.LoadPlugin(_runtime.Compile(Module.ConvertText(BenchmarkModules.TrapWat).ToArray()),
            new PluginOptions { Name = "trap", Shards = 1, RebuildBackoff = TimeSpan.Zero }, host);
        _request.RequestHeaders.Add(":method", "GET");
        _request.RequestHeaders.Add(":path", "/");
        _request.RequestHeaders.Add(":authority", "example.test");
        _request.RequestHeaders.Add(":scheme", "http");
        _request.ResponseHeaders.Add(":status", "200");
        for (var i = 0; i < 20; i++)
        {
            _twentyHeaders.RequestHeaders.Add($"x-header-{i:D2}", "some-typical-header-value");
        }

        for (var i = 0; i < 6; i++)
        {
            _trapRequest.RequestHeaders.Add($"h{i}", "v");
        }

        using var module = Module.FromBytes(_runtime.EngineForBenchmarks, "add_header", _wasm);
        _serialized = module.Serialize();
    }

    /// <summary>
    /// Keeps <paramref name="count"/> streams open on the add_header (or WAT) VM, as a proxy under load has: the
    /// requests in flight on a shard. proxy-runtime 0.1.8 joins every live context id into a debug string each time
    /// a context is created, so its per-request cost grows with this number.
    /// </summary>
    public void HoldOpenStreams(int count, bool wat)
    {
        for (var i = 0; i < count; i++)
        {
            var stream = (wat ? _addHeaderWat : _addHeader).CreateHttpStream(new BenchmarkStreamHost());
            stream.OnRequestHeaders(true);
            _held.Add(stream);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var stream in _held)
        {
            stream.Complete();
            stream.Dispose();
        }

        _addHeader.Dispose();
        _pairs.Dispose();
        _addHeaderWat.Dispose();
        _trapping.Dispose();
        _runtime.Dispose();
    }

    [Benchmark(Description = "add_header request lifecycle")]
    public void AddHeaderRequestLifecycle()
    {
        _request.ResponseHeaders.Remove("hello");
        using var stream = _addHeader.CreateHttpStream(_request);
        stream.OnRequestHeaders(true);
        stream.OnResponseHeaders(true);
        stream.Complete();
    }

    [Benchmark(Description = "add_header lifecycle, WAT (host cost only)")]
    public void AddHeaderWatRequestLifecycle()
    {
        _request.ResponseHeaders.Remove("hello");
        using var stream = _addHeaderWat.CreateHttpStream(_request);
        stream.OnRequestHeaders(true);
        stream.OnResponseHeaders(true);
        stream.Complete();
    }

    [Benchmark(Description = "get_header_map_pairs, 20 headers")]
    public void GetHeaderMapPairsWith20Headers()
    {
        using var stream = _pairs.CreateHttpStream(_twentyHeaders);
        stream.OnRequestHeaders(true);
        stream.Complete();
    }

    [Benchmark(Description = "trap + shard rebuild")]
    public void TrapAndShardRebuild()
    {
        using (var failing = _trapping.CreateHttpStream(_trapRequest))
        {
            failing.OnRequestHeaders(true);
        }

        using var next = _trapping.CreateHttpStream(_healthyRequest);
        next.OnRequestHeaders(true);
    }

    [Benchmark(Description = "compile add_header from Wasm")]
    public void CompileFromWasm()
    {
        using var module = Module.FromBytes(_runtime.EngineForBenchmarks, "add_header", _wasm);
    }

    [Benchmark(Description = "load precompiled add_header")]
    public void LoadPrecompiled()
    {
        using var module = Module.Deserialize(_runtime.EngineForBenchmarks, "add_header", _serialized);
    }
}
