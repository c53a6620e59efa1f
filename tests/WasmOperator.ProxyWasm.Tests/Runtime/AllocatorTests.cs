using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Runtime;

/// <summary>
/// The export the host hands data to the plugin through, chosen as cpp-host does: <c>malloc</c>, else
/// <c>proxy_on_memory_allocate</c>; a module with neither does not load (Envoy: "missing malloc").
/// </summary>
public class AllocatorTests
{
    /// <summary>
    /// A plugin with the given allocator exports (each logs its name when called) whose request headers callback reads
    /// the request headers, which the host copies into the plugin through the allocator.
    /// </summary>
    private static byte[] Module(params string[] allocators)
    {
        var exports = string.Concat(allocators.Select(a => a switch
        {
            "malloc (i64)" => """
                (func (export "malloc") (param i64) (result i64) unreachable)
                """,
            _ => $$"""
                (data (i32.const {{(a == "malloc" ? 200 : 300)}}) "{{a}}")
                (func (export "{{a}}") (param $n i32) (result i32) (local $p i32)
                  (drop (call $log (i32.const 2) (i32.const {{(a == "malloc" ? 200 : 300)}}) (i32.const {{a.Length}})))
                  (local.set $p (global.get $heap))
                  (global.set $heap (i32.add (global.get $heap) (local.get $n)))
                  (local.get $p))
                """,
        }));
        return Wasmtime.Module.ConvertText($$"""
            (module
              (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
              (import "env" "proxy_get_header_map_pairs" (func $pairs (param i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (global $heap (mut i32) (i32.const 4096))
              {{exports}}
              (func (export "proxy_abi_version_0_2_0"))
              (func (export "proxy_on_context_create") (param i32 i32))
              (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
                (if (call $pairs (i32.const 0) (i32.const 100) (i32.const 104)) (then unreachable))
                (i32.const 0)))
            """).ToArray();
    }

    private static List<string> AllocatorsCalled(byte[] wasm)
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = runtime.LoadPlugin(runtime.Compile(wasm), new PluginOptions { Name = "alloc", Shards = 1 }, host);
        using var stream = plugin.CreateHttpStream(new TestStreamHost());
        Assert.Equal(FilterStatus.Continue, stream.OnRequestHeaders(endOfStream: true).Status);
        return host.Messages();
    }

    [Fact]
    public void A_module_exporting_malloc_and_proxy_on_memory_allocate_gets_its_data_through_malloc()
    {
        // TinyGo's proxy_on_memory_allocate hands out a Go slice nothing keeps alive; its malloc keeps the block until free.
        Assert.Equal(["malloc"], AllocatorsCalled(Module("proxy_on_memory_allocate", "malloc")));
    }

    [Fact]
    public void A_module_exporting_only_proxy_on_memory_allocate_gets_its_data_through_it()
    {
        Assert.Equal(["proxy_on_memory_allocate"], AllocatorsCalled(Module("proxy_on_memory_allocate")));
    }

    [Fact]
    public void A_malloc_of_another_signature_is_not_an_allocator_and_proxy_on_memory_allocate_is_used()
    {
        Assert.Equal(["proxy_on_memory_allocate"], AllocatorsCalled(Module("malloc (i64)", "proxy_on_memory_allocate")));
    }

    [Theory]
    [InlineData]
    [InlineData("malloc (i64)")]
    public void A_module_without_an_allocator_fails_to_load_with_the_problem_the_module_check_reports(params string[] allocators)
    {
        var wasm = Module(allocators);
        using var runtime = new ProxyWasmRuntime();

        var error = Assert.Throws<PluginLoadException>(() => runtime.Compile(wasm));
        var report = runtime.Check(wasm);

        Assert.Contains("malloc", error.Message, StringComparison.Ordinal);
        Assert.Contains("proxy_on_memory_allocate", error.Message, StringComparison.Ordinal);
        Assert.False(report.IsLoadable);
        Assert.Null(report.Allocator);
        var problem = Assert.Single(report.Problems);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }
}
