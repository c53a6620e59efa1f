using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Plugins;

/// <summary>
/// A root context whose <c>proxy_on_done</c> returns false when its plugin goes is kept, as Envoy keeps it
/// (cpp-host <c>pending_done_</c>): it still gets ticks, its <c>proxy_done</c> answers OK and <c>proxy_on_delete</c>
/// follows; one that never calls <c>proxy_done</c> is deleted after <see cref="PluginOptions.RootDoneGrace"/>.
/// </summary>
public class DeferredRootDoneTests
{
    private static ProxyWasmPlugin Load(ProxyWasmRuntime runtime, TestPluginHost host, string configuration = "", TimeSpan? grace = null) =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("deferred_root_done")), new PluginOptions
        {
            Name = "deferred-root", Shards = 1, Configuration = System.Text.Encoding.UTF8.GetBytes(configuration),
            RootDoneGrace = grace ?? TimeSpan.FromMinutes(5),
        }, host);

    [Fact]
    public async Task A_root_that_defers_its_deletion_keeps_ticking_and_is_deleted_after_its_proxy_done_answered_ok()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        var plugin = Load(runtime, host);

        plugin.Dispose();

        Assert.True(await host.WaitForLogAsync(m => m == "root on_delete"));
        // proxy_done answers NOT_FOUND (1) while nothing waits for it, OK (0) from the root that deferred.
        Assert.Equal(["early proxy_done=1", "root on_done", "tick after on_done", "proxy_done=0", "root on_delete"], host.Messages());
    }

    [Fact]
    public async Task A_root_that_never_calls_proxy_done_is_deleted_after_the_grace()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        var plugin = Load(runtime, host, configuration: "never", grace: TimeSpan.FromMilliseconds(50));

        plugin.Dispose();

        Assert.True(await host.WaitForLogAsync(m => m == "root on_delete"));
        var messages = host.Messages();
        Assert.Equal(["early proxy_done=1", "root on_done"], messages[..2]);
        Assert.Equal("root on_delete", messages[^1]);
        Assert.DoesNotContain(messages, m => m.StartsWith("proxy_done=", StringComparison.Ordinal));
    }

    [Fact]
    public void A_root_waiting_for_its_proxy_done_is_deleted_when_the_runtime_is_disposed()
    {
        var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        var plugin = Load(runtime, host, configuration: "never");
        plugin.Dispose();
        Assert.Equal(["early proxy_done=1", "root on_done"], host.Messages()[..2]);
        Assert.DoesNotContain("root on_delete", host.Messages());

        runtime.Dispose();

        Assert.Equal("root on_delete", host.Messages()[^1]);
    }
}
