using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

public class ConfigurationBufferTests
{
    // Each callback logs buffer 6 (VM configuration) then buffer 7 (plugin configuration): the bytes, or the status digit.
    private static readonly byte[] Wasm = Wasmtime.Module.ConvertText("""
        (module
          (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
          (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (global $heap (mut i32) (i32.const 1024))
          (func (export "malloc") (param $size i32) (result i32)
            (local $p i32)
            (local.set $p (global.get $heap))
            (global.set $heap (i32.add (global.get $heap) (local.get $size)))
            (local.get $p))
          (func $show (param $type i32)
            (local $status i32)
            (local.set $status (call $get_buffer (local.get $type) (i32.const 0) (i32.const 100) (i32.const 300) (i32.const 304)))
            (if (i32.eqz (local.get $status))
              (then (drop (call $log (i32.const 2) (i32.load (i32.const 300)) (i32.load (i32.const 304)))))
              (else
                (i32.store8 (i32.const 200) (i32.add (i32.const 48) (local.get $status)))
                (drop (call $log (i32.const 2) (i32.const 200) (i32.const 1))))))
          (func $show_both (call $show (i32.const 6)) (call $show (i32.const 7)))
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_context_create") (param i32 i32))
          (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (call $show_both) (i32.const 1))
          (func (export "proxy_on_configure") (param i32 i32) (result i32) (call $show_both) (i32.const 1))
          (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (call $show_both) (i32.const 0)))
        """).ToArray();

    [Fact]
    public void The_VM_configuration_is_readable_in_every_callback_and_the_plugin_configuration_from_on_configure_only()
    {
        var host = new TestPluginHost();
        using var plugin = SharedRuntime.Instance.LoadPlugin(SharedRuntime.Instance.Compile(Wasm), new PluginOptions
        {
            Name = "configuration-buffers", Shards = 1, VmConfiguration = "vm-cfg"u8.ToArray(), Configuration = "plugin-cfg"u8.ToArray(),
        }, host);
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        stream.OnRequestHeaders(true);

        // on_vm_start, on_configure, on_request_headers; 1 is NOT_FOUND.
        Assert.Equal(["vm-cfg", "1", "vm-cfg", "plugin-cfg", "vm-cfg", "1"], host.Messages());
    }
}
