using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Plugins;

/// <summary>proxy_on_tick as Envoy drives it.</summary>
public class TickTests
{
    private static ProxyWasmPlugin LoadSlowTick(ProxyWasmRuntime runtime, IPluginHost host, int shards) =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("slow_tick")), new PluginOptions
        {
            Name = "slow-tick",
            Shards = shards,
            CallDeadline = TimeSpan.FromMilliseconds(100),
            RebuildBackoff = TimeSpan.Zero,
        }, host);

    private static TestStreamHost RequestWithHeaders(int count)
    {
        var request = new TestStreamHost();
        for (var i = request.RequestHeaders.Count; i < count; i++)
        {
            request.RequestHeaders.Add($"x-h{i}", "v");
        }

        return request;
    }

    [Fact]
    public async Task A_VM_rebuilt_after_a_crash_gets_the_ticks_it_sets_up_in_on_vm_start()
    {
        var host = new TestPluginHost();
        using var plugin = LoadSlowTick(SharedRuntime.Instance, host, shards: 1);
        Assert.True(await host.WaitForLogAsync(m => m == "tick end"));

        using (var crashing = plugin.CreateHttpStream(RequestWithHeaders(6)))
        {
            Assert.Equal(FilterStatus.Failed, crashing.OnRequestHeaders(true).Status);
        }

        using (var rebuilt = plugin.CreateHttpStream(RequestWithHeaders(5)))
        {
            Assert.Equal(FilterStatus.Continue, rebuilt.OnRequestHeaders(true).Status);
        }

        Assert.Equal(1, plugin.CrashCount);
        var ticksBefore = host.Messages().Count(m => m == "tick end");
        Assert.True(await host.WaitForLogAsync(_ => host.Messages().Count(m => m == "tick end") >= ticksBefore + 3),
            "the rebuilt VM's tick timer never reached it");
    }
}
