using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Runtime;

/// <summary>Compiled modules stay in memory while a plugin runs them and for a grace after, then are released.</summary>
public sealed class CompiledModuleLifetimeTests
{
    /// <summary>A plugin module that adds a header; <paramref name="n"/> makes its bytes, and so its digest, its own.</summary>
    private static byte[] Distinct(int n) => Wasmtime.Module.ConvertText($$"""
        (module
          (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (global $heap (mut i32) (i32.const 4096))
          (data (i32.const 16) "x-n")
          (data (i32.const 32) "{{n}}")
          (func (export "malloc") (param $n i32) (result i32) (local $p i32)
            global.get $heap local.set $p global.get $heap local.get $n i32.add global.set $heap local.get $p)
          (func (export "proxy_abi_version_0_2_0"))
          (func (export "proxy_on_context_create") (param i32 i32))
          (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
          (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
          (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
            (drop (call $add (i32.const 0) (i32.const 16) (i32.const 3) (i32.const 32) (i32.const {{n.ToString(System.Globalization.CultureInfo.InvariantCulture).Length}})))
            i32.const 0))
        """).ToArray();

    private static ProxyWasmPlugin Load(ProxyWasmRuntime runtime, byte[] wasm) =>
        runtime.LoadPlugin(runtime.Compile(wasm), new PluginOptions { Name = "n", Shards = 1 }, new TestPluginHost());

    [Fact]
    public void Modules_no_plugin_runs_are_released_and_one_a_live_plugin_runs_is_kept()
    {
        using var runtime = new ProxyWasmRuntime(new ProxyWasmRuntimeOptions { IdleModuleGrace = TimeSpan.Zero });
        var plugins = new List<ProxyWasmPlugin>();
        for (var n = 0; n < 10; n++)
        {
            plugins.Add(Load(runtime, Distinct(n)));
        }

        Assert.Equal(10, runtime.CompiledModuleCount);

        foreach (var plugin in plugins[1..])
        {
            plugin.Dispose();
        }

        Assert.Equal(1, runtime.CompiledModuleCount);

        // The module kept still runs, and a second plugin on it shares it.
        using var second = Load(runtime, Distinct(0));
        Assert.Same(plugins[0].Module, second.Module);
        var request = new TestStreamHost();
        using (var stream = plugins[0].CreateHttpStream(request))
        {
            stream.OnRequestHeaders(true);
        }

        Assert.Equal("0", request.RequestHeaders.Get("x-n"));
        plugins[0].Dispose();
        Assert.Equal(1, runtime.CompiledModuleCount);
    }

    [Fact]
    public void A_module_whose_plugin_just_went_is_compiled_again_from_memory_within_the_grace()
    {
        using var runtime = new ProxyWasmRuntime();
        var plugin = Load(runtime, Distinct(1));
        var module = plugin.Module;
        plugin.Dispose();

        Assert.Equal(1, runtime.CompiledModuleCount);
        Assert.Same(module, runtime.Compile(Distinct(1)));
    }

    [Fact]
    public void A_module_released_before_its_plugin_started_is_refused_with_a_reason()
    {
        using var runtime = new ProxyWasmRuntime(new ProxyWasmRuntimeOptions { IdleModuleGrace = TimeSpan.Zero });
        var module = runtime.Compile(Distinct(1));
        runtime.Compile(Distinct(2)); // releases the first: idle, its grace over

        var error = Assert.Throws<PluginLoadException>(() => runtime.LoadPlugin(module, new PluginOptions { Name = "n", Shards = 1 }, new TestPluginHost()));
        Assert.Contains("compile it again", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, runtime.CompiledModuleCount);
    }
}
