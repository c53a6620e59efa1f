namespace WasmOperator.Benchmarks;

/// <summary>Finds examples/plugins/&lt;name&gt;/build/plugin.wasm (built by `make plugins`).</summary>
internal static class BenchmarkModules
{
    /// <summary>
    /// The example's plugin.wasm, or the file named by BENCH_PLUGIN_&lt;NAME&gt; (e.g. BENCH_PLUGIN_ADD_HEADER)
    /// to compare builds of one plugin (compiler flags) under the same benchmark.
    /// </summary>
    public static byte[] Plugin(string name)
    {
        if (Environment.GetEnvironmentVariable("BENCH_PLUGIN_" + name.ToUpperInvariant()) is { Length: > 0 } overridePath)
        {
            Console.WriteLine($"// {name}: {overridePath}");
            return File.ReadAllBytes(overridePath);
        }

        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !Directory.Exists(Path.Combine(dir.FullName, "examples", "plugins")))
        {
            dir = dir.Parent;
        }

        var path = Path.Combine(dir?.FullName ?? ".", "examples", "plugins", name, "build", "plugin.wasm");
        return File.Exists(path) ? File.ReadAllBytes(path) : throw new FileNotFoundException("run `make plugins` first", path);
    }

    /// <summary>on_request_headers fetches all request headers with proxy_get_header_map_pairs (allocator reuses one buffer).</summary>
    public const string HeaderPairsWat = """
        (module
          (import "env" "proxy_get_header_map_pairs" (func $pairs (param i32 i32 i32) (result i32)))
          (memory (export "memory") 2)
          (func (export "malloc") (param i32) (result i32) (i32.const 4096))
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_context_create") (param i32 i32))
          (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
            (drop (call $pairs (i32.const 0) (i32.const 100) (i32.const 104)))
            (i32.const 0)))
        """;

    /// <summary>
    /// add_header's hostcalls without the SDK: on_response_headers adds `hello: world!`; every
    /// lifecycle callback is exported. Separates host cost from proxy-runtime's own work.
    /// </summary>
    public const string AddHeaderWat = """
        (module
          (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "hello")
          (data (i32.const 32) "world!")
          (func (export "malloc") (param i32) (result i32) (i32.const 4096))
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_context_create") (param i32 i32))
          (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
          (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
            (drop (call $add (i32.const 2) (i32.const 16) (i32.const 5) (i32.const 32) (i32.const 6)))
            (i32.const 0))
          (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
          (func (export "proxy_on_log") (param i32))
          (func (export "proxy_on_delete") (param i32)))
        """;

    /// <summary>Traps in on_request_headers when the request has 6 headers; continues otherwise.</summary>
    public const string TrapWat = """
        (module
          (memory (export "memory") 1)
          (func (export "malloc") (param i32) (result i32) (i32.const 4096))
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_context_create") (param i32 i32))
          (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
            (if (i32.eq (local.get 1) (i32.const 6)) (then unreachable))
            (i32.const 0)))
        """;
}
