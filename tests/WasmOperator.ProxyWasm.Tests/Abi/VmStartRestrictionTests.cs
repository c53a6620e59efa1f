using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

public class VmStartRestrictionTests
{
    // $init logs "init" (allowed) then makes the call given; it runs as the Wasm start function or as _initialize.
    private static byte[] Module(string entry, string call) => Wasmtime.Module.ConvertText($$"""
        (module
          (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
          (import "env" "proxy_set_tick_period_milliseconds" (func $set_tick (param i32) (result i32)))
          (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (global $heap (mut i32) (i32.const 1024))
          (data (i32.const 0) "init")
          (data (i32.const 8) "tick")
          (data (i32.const 16) "plugin_name")
          (func (export "malloc") (param $size i32) (result i32)
            (local $p i32)
            (local.set $p (global.get $heap))
            (global.set $heap (i32.add (global.get $heap) (local.get $size)))
            (local.get $p))
          (func $init
            (drop (call $log (i32.const 2) (i32.const 0) (i32.const 4)))
            {{call}})
          {{(entry == "start" ? "(start $init)" : "(export \"_initialize\" (func $init))")}}
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_context_create") (param i32 i32))
          (func (export "proxy_on_tick") (param i32)
            (drop (call $log (i32.const 2) (i32.const 8) (i32.const 4)))))
        """).ToArray();

    [Theory]
    [InlineData("start", "proxy_set_tick_period_milliseconds", "(drop (call $set_tick (i32.const 10)))")]
    [InlineData("_initialize", "proxy_set_tick_period_milliseconds", "(drop (call $set_tick (i32.const 10)))")]
    [InlineData("start", "proxy_get_property", "(drop (call $get_property (i32.const 16) (i32.const 11) (i32.const 100) (i32.const 104)))")]
    [InlineData("_initialize", "proxy_get_property", "(drop (call $get_property (i32.const 16) (i32.const 11) (i32.const 100) (i32.const 104)))")]
    public void A_proxy_hostcall_while_the_VM_starts_fails_the_load_as_restricted_and_log_is_allowed(string entry, string function, string call)
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();

        var error = Assert.Throws<PluginLoadException>(() => runtime.LoadPlugin(runtime.Compile(Module(entry, call)),
            new PluginOptions { Name = "starting", Shards = 1 }, host));

        // The Wasm start function runs while the module is instantiated.
        var step = entry == "start" ? "instantiation" : "_initialize";
        Assert.Contains($"failed to start: Function: {step} failed ({TrapKind.RestrictedHostcall})", error.Message, StringComparison.Ordinal);
        Assert.Contains($"Attempted call to restricted proxy-wasm capability {function} during VM start", error.Message, StringComparison.Ordinal);
        Assert.Equal(["init"], host.Messages());
    }
}
