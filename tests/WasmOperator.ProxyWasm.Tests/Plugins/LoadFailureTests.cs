using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Plugins;

/// <summary>A plugin that does not start says which step failed and which limit it ran into, as a per-request failure does.</summary>
public class LoadFailureTests
{
    private const string Spin = "(loop $spin (br $spin))";

    // A plugin whose start steps all succeed, but the one named spins; <paramref name="memoryPages"/> is its initial memory.
    private static byte[] Module(string spinning, int memoryPages = 1)
    {
        string Body(string callback) => callback == spinning ? Spin : "";
        var entry = spinning switch
        {
            "_start" => $"(func (export \"_start\") {Spin})",
            "_initialize" => $"(func (export \"_initialize\") {Spin})",
            "instantiation" => $"(func $init {Spin}) (start $init)",
            _ => "",
        };
        return Wasmtime.Module.ConvertText($$"""
            (module
              (memory (export "memory") {{memoryPages}})
              (global $heap (mut i32) (i32.const 1024))
              (func (export "malloc") (param $size i32) (result i32)
                (local $p i32)
                (local.set $p (global.get $heap))
                (global.set $heap (i32.add (global.get $heap) (local.get $size)))
                (local.get $p))
              {{entry}}
              (func (export "proxy_abi_version_0_2_1"))
              (func (export "proxy_on_context_create") (param i32 i32) {{Body("proxy_on_context_create")}})
              (func (export "proxy_on_vm_start") (param i32 i32) (result i32) {{Body("proxy_on_vm_start")}} (i32.const 1))
              (func (export "proxy_validate_configuration") (param i32 i32) (result i32) {{Body("proxy_validate_configuration")}} (i32.const 1))
              (func (export "proxy_on_configure") (param i32 i32) (result i32) {{Body("proxy_on_configure")}} (i32.const 1)))
            """).ToArray();
    }

    [Theory]
    [InlineData("instantiation")]
    [InlineData("_start")]
    [InlineData("_initialize")]
    [InlineData("proxy_on_context_create")]
    [InlineData("proxy_on_vm_start")]
    [InlineData("proxy_validate_configuration")]
    [InlineData("proxy_on_configure")]
    public void A_start_callback_that_overruns_its_deadline_is_named_with_the_limit(string callback)
    {
        var runtime = SharedRuntime.Instance;

        var error = Assert.Throws<PluginLoadException>(() => runtime.LoadPlugin(runtime.Compile(Module(callback)),
            new PluginOptions { Name = "spins", Shards = 1, CallDeadline = TimeSpan.FromMilliseconds(50) }, new TestPluginHost()));

        Assert.Contains($"failed to start: Function: {callback} failed ({TrapKind.Deadline})", error.Message, StringComparison.Ordinal);
        Assert.Contains("exceeded limits.maxCallDuration (50 ms)", error.Message, StringComparison.Ordinal);
        Assert.False(error.ConfigurationRejected);
    }

    [Fact]
    public void A_module_whose_initial_memory_is_over_the_memory_limit_names_both_and_the_field_to_raise()
    {
        var runtime = SharedRuntime.Instance;

        var error = Assert.Throws<PluginLoadException>(() => runtime.LoadPlugin(runtime.Compile(Module("none", memoryPages: 256)),
            new PluginOptions { Name = "big", Shards = 1, MemoryLimitBytes = 8L * 1024 * 1024 }, new TestPluginHost()));

        Assert.Contains(
            "the module needs at least 16 MiB of memory (256 pages) but limits.maxMemoryBytes is 8 MiB; raise limits.maxMemoryBytes",
            error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_module_whose_initial_memory_is_exactly_the_memory_limit_starts()
    {
        var runtime = SharedRuntime.Instance;

        using var plugin = runtime.LoadPlugin(runtime.Compile(Module("none", memoryPages: 128)),
            new PluginOptions { Name = "fits", Shards = 1, MemoryLimitBytes = 8L * 1024 * 1024 }, new TestPluginHost());

        Assert.Equal(1, plugin.HealthyShards);
    }
}
