using System.Net;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Chain;

/// <summary>
/// A shared queue's items reach the serving plugin that registered it through every plugin file: a rejected set, whose
/// new VMs registered the queue again before it was rejected, leaves delivery with the serving VM, as does going back
/// to the serving file; an applied edit moves it to the new VM. The consumer counts the items it took (x-delivered).
/// </summary>
public sealed class SharedQueueReloadTests
{
    private static string Consumer(string config) => Plugin("consumer", Wat("queue_consumer"), "", config, "vmId: shared");

    private static readonly string Producer = Plugin("producer", Wat("queue_producer"), "", extra: "vmId: shared");

    private static async Task EnqueueAsync(ProxyHarness proxy)
    {
        var (response, _) = await proxy.GetAsync("/enqueue");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static Task DeliveredAsync(ProxyHarness proxy, string count) => ProxyHarness.EventuallyAsync(async () =>
    {
        var (response, _) = await proxy.GetAsync("/");
        return response.Headers.TryGetValues("x-delivered", out var values) && values.Single() == count;
    }, $"the serving consumer took {count} item(s)");

    private static async Task WriteAndWaitAsync(ProxyHarness proxy, string yaml, bool rejected)
    {
        var chains = proxy.Server.Chains;
        var revision = chains.Current!.Revision;
        var rejectedBefore = chains.LastRejected;
        await proxy.WritePluginsAsync(yaml);
        await ProxyHarness.EventuallyAsync(
            () => Task.FromResult(rejected ? chains.LastRejected is { } r && !ReferenceEquals(r, rejectedBefore) : chains.Current!.Revision > revision),
            rejected ? "the file is rejected" : "the file is applied");
    }

    [Fact]
    public async Task A_rejected_plugin_file_leaves_queue_delivery_with_the_serving_plugin_and_an_applied_one_moves_it()
    {
        var serving = Yaml(Consumer("one"), Producer);
        await using var proxy = await ProxyHarness.StartAsync(serving, o => o.ShardsPerPlugin = 1);
        await EnqueueAsync(proxy);
        await DeliveredAsync(proxy, "1");

        // The consumer's edit loads it in a new VM, whose on_configure registers the queue; the set is then rejected.
        await WriteAndWaitAsync(proxy, Yaml(Consumer("two"), Producer, Plugin("bad", Wat("configure_fails"), "")), rejected: true);
        Assert.Equal(1, proxy.Server.Chains.Current!.Revision);
        await EnqueueAsync(proxy);
        await DeliveredAsync(proxy, "2");

        // Back to the serving file: the consumer is kept (its on_configure does not run again) and still told.
        await WriteAndWaitAsync(proxy, serving, rejected: false);
        await EnqueueAsync(proxy);
        await DeliveredAsync(proxy, "3");

        // An applied edit: the new VM registers the queue and is told from now on.
        await WriteAndWaitAsync(proxy, Yaml(Consumer("three"), Producer), rejected: false);
        await EnqueueAsync(proxy);
        await DeliveredAsync(proxy, "1");
    }
}
