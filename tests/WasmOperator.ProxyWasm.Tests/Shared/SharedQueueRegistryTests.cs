using System.Text;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Shared;

/// <summary>
/// Who is told of a shared queue's items: the newest VM that registered it and is still there. The fixture's consumers
/// (with a configuration) register queue "q" of vm_id "owners" and log "ready &lt;item&gt;" per item; its producers
/// (without) enqueue each request's path.
/// </summary>
public sealed class SharedQueueRegistryTests
{
    private static ProxyWasmPlugin Load(ProxyWasmRuntime runtime, string name, TestPluginHost host, bool consumer) =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("queue_owner")), new PluginOptions
        {
            Name = name,
            VmId = "owners",
            Shards = 1,
            Configuration = consumer ? Encoding.UTF8.GetBytes(name) : [],
            RebuildBackoff = TimeSpan.Zero,
        }, host);

    private static FilterResult Request(ProxyWasmPlugin plugin, string path)
    {
        using var stream = plugin.CreateHttpStream(new TestStreamHost(path: path));
        return stream.OnRequestHeaders(true);
    }

    private static List<string> Ready(TestPluginHost host) => host.Messages().Where(m => m.StartsWith("ready ", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task A_queue_registered_again_by_another_VM_returns_to_the_first_when_that_VM_is_disposed()
    {
        using var runtime = new ProxyWasmRuntime();
        var first = new TestPluginHost();
        var second = new TestPluginHost();
        using var producer = Load(runtime, "producer", new TestPluginHost(), consumer: false);
        using var a = Load(runtime, "a", first, consumer: true);
        var b = Load(runtime, "b", second, consumer: true);

        // The newest registrant is told, and only it.
        Request(producer, "/one");
        Assert.True(await second.WaitForLogAsync(m => m == "ready /one"));
        Assert.Empty(Ready(first));

        // B's VM goes (as a rejected set's does): A, still there, is told again.
        b.Dispose();
        Request(producer, "/two");

        Assert.True(await first.WaitForLogAsync(m => m == "ready /two"));
        Assert.Equal(["ready /one"], Ready(second));
    }

    [Fact]
    public async Task Items_enqueued_while_the_only_registrant_was_failed_are_announced_to_its_rebuilt_VM()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var producer = Load(runtime, "producer", new TestPluginHost(), consumer: false);
        using var consumer = Load(runtime, "consumer", host, consumer: true);
        Assert.Equal(FilterStatus.Failed, Request(consumer, "/trap").Status);

        // Nobody is registered while the VM is failed; the rebuild (on the next stream) runs on_configure, which registers again.
        Request(producer, "/in-the-gap");
        Request(consumer, "/rebuild");

        Assert.True(await host.WaitForLogAsync(m => m == "ready /in-the-gap"));
        Assert.Equal(1, consumer.CrashCount);
    }
}
