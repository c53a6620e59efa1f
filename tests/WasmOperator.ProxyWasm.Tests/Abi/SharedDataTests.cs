using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

public class SharedDataTests
{
    // Statuses are logged as one digit each. Keys and names are bytes: "\ff" and "\fe" are no UTF-8,
    // "\c3\a9-queue" is "é-queue" and "vm-\c3\bc" "vm-ü" in UTF-8.
    private static byte[] Module(string onVmStart, string onRequestHeaders) => Wasmtime.Module.ConvertText($$"""
        (module
          (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
          (import "env" "proxy_set_shared_data" (func $set (param i32 i32 i32 i32 i32) (result i32)))
          (import "env" "proxy_get_shared_data" (func $get (param i32 i32 i32 i32 i32) (result i32)))
          (import "env" "proxy_register_shared_queue" (func $register (param i32 i32 i32) (result i32)))
          (import "env" "proxy_resolve_shared_queue" (func $resolve (param i32 i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (global $heap (mut i32) (i32.const 1024))
          (data (i32.const 0) "\ff")
          (data (i32.const 4) "\fe")
          (data (i32.const 8) "v")
          (data (i32.const 16) "\c3\a9-queue")
          (data (i32.const 32) "vm-\c3\bc")
          (func (export "malloc") (param $size i32) (result i32)
            (local $p i32)
            (local.set $p (global.get $heap))
            (global.set $heap (i32.add (global.get $heap) (local.get $size)))
            (local.get $p))
          (func $status (param $s i32)
            (i32.store8 (i32.const 200) (i32.add (i32.const 48) (local.get $s)))
            (drop (call $log (i32.const 2) (i32.const 200) (i32.const 1))))
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_context_create") (param i32 i32))
          (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
            {{onVmStart}}
            (i32.const 1))
          (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
            {{onRequestHeaders}}
            (i32.const 0)))
        """).ToArray();

    [Fact]
    public void Shared_data_keys_are_bytes_so_two_keys_that_are_no_UTF8_never_meet()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = runtime.LoadPlugin(runtime.Compile(Module("", """
            (call $status (call $set (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 0)))
            (call $status (call $get (i32.const 0) (i32.const 1) (i32.const 300) (i32.const 304) (i32.const 308)))
            (call $status (call $get (i32.const 4) (i32.const 1) (i32.const 300) (i32.const 304) (i32.const 308)))
            """)), new PluginOptions { Name = "shared-data", Shards = 1 }, host);
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        stream.OnRequestHeaders(true);

        // set OK, get "\ff" OK, get "\fe" NOT_FOUND.
        Assert.Equal(["0", "0", "1"], host.Messages());
    }

    [Fact]
    public void Shared_queue_names_are_bytes_and_a_UTF8_name_registered_by_one_plugin_resolves_from_another_with_the_same_vm_id()
    {
        using var runtime = new ProxyWasmRuntime();
        var registrar = new TestPluginHost();
        using var owner = runtime.LoadPlugin(runtime.Compile(Module("""
            (call $status (call $register (i32.const 16) (i32.const 8) (i32.const 300)))
            (call $status (call $register (i32.const 0) (i32.const 1) (i32.const 304)))
            """, "")), new PluginOptions { Name = "owner", VmId = "vm-ü", Shards = 1 }, registrar);
        var host = new TestPluginHost();
        using var reader = runtime.LoadPlugin(runtime.Compile(Module("", """
            (call $status (call $resolve (i32.const 32) (i32.const 5) (i32.const 16) (i32.const 8) (i32.const 300)))
            (call $status (call $resolve (i32.const 32) (i32.const 5) (i32.const 0) (i32.const 1) (i32.const 300)))
            (call $status (call $resolve (i32.const 32) (i32.const 5) (i32.const 4) (i32.const 1) (i32.const 300)))
            """)), new PluginOptions { Name = "reader", VmId = "vm-ü", Shards = 1 }, host);
        using var stream = reader.CreateHttpStream(new TestStreamHost());

        stream.OnRequestHeaders(true);

        Assert.Equal(["0", "0"], registrar.Messages());
        // "é-queue" OK, "\ff" OK, "\fe" NOT_FOUND.
        Assert.Equal(["0", "0", "1"], host.Messages());
    }
}
