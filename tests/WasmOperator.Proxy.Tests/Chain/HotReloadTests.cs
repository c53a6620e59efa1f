using System.Diagnostics;
using Xunit.Abstractions;
using System.Net;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Chain;

/// <summary>Hot reload: file watching, atomic swaps under load, draining of old chains.</summary>
[Collection(MeasuredLoadCollection.Name)]
public sealed class HotReloadTests(ITestOutputHelper output)
{
    private static string Version(string v) => Yaml(Plugin("version", Example("add_header"), "add_header", v));

    [Fact]
    public async Task Editing_the_plugin_file_hot_reloads_the_chain()
    {
        await using var proxy = await ProxyHarness.StartAsync(Version("v1"));
        Assert.Equal("v1", (await proxy.GetAsync("/")).Response.Headers.GetValues("hello").Single());

        await proxy.WritePluginsAsync(Version("v2"));
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.GetAsync("/")).Response.Headers.GetValues("hello").Single() == "v2", "v2 serves after the file changed");
    }

    [Fact]
    public async Task Swapping_the_plugin_set_100_times_under_load_fails_no_request_and_each_response_has_one_version()
    {
        await using var proxy = await ProxyHarness.StartAsync(Version("v1"));
        var v1 = PluginFileParser.Parse(Version("v1"), "v1");
        var v2 = PluginFileParser.Parse(Version("v2"), "v2");
        var chains = proxy.Server.Chains;
        var first = chains.Current!;
        using var stop = new CancellationTokenSource();
        long ok = 0, failed = 0, sawV1 = 0, sawV2 = 0, malformed = 0;

        async Task ClientAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await proxy.Client.GetAsync("/load");
                    await response.Content.ReadAsByteArrayAsync();
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref failed);
                        continue;
                    }

                    Interlocked.Increment(ref ok);
                    var values = response.Headers.TryGetValues("hello", out var v) ? v.ToArray() : [];
                    if (values is ["v1"])
                    {
                        Interlocked.Increment(ref sawV1);
                    }
                    else if (values is ["v2"])
                    {
                        Interlocked.Increment(ref sawV2);
                    }
                    else
                    {
                        Interlocked.Increment(ref malformed);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        }

        var clients = Enumerable.Range(0, 8).Select(_ => Task.Run(ClientAsync)).ToArray();
        // Warm up (JIT, connections) before the measured window starts.
        while (Interlocked.Read(ref ok) + Interlocked.Read(ref failed) < 200)
        {
            await Task.Delay(1);
        }

        var completedBefore = Interlocked.Read(ref ok) + Interlocked.Read(ref failed);
        var window = Stopwatch.StartNew();
        for (var swap = 0; swap < 100; swap++)
        {
            // Keep traffic flowing between swaps: wait for at least 20 more answers each time.
            var target = Interlocked.Read(ref ok) + Interlocked.Read(ref failed) + 20;
            while (Interlocked.Read(ref ok) + Interlocked.Read(ref failed) < target)
            {
                await Task.Delay(1);
            }

            var reason = await chains.ApplyAsync(swap % 2 == 0 ? v2 : v1, $"swap {swap}", CancellationToken.None);
            Assert.Null(reason);
        }

        window.Stop();
        var completedDuring = Interlocked.Read(ref ok) + Interlocked.Read(ref failed) - completedBefore;
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        Assert.Equal(0, failed);
        Assert.Equal(0, malformed);
        // The load bar, measured by this test's own counters over the swap window: if the
        // machine cannot drive 500 requests/s through the proxy, the test fails instead of passing quietly.
        var rate = completedDuring / window.Elapsed.TotalSeconds;
        output.WriteLine($"{completedDuring} requests in {window.Elapsed.TotalSeconds:F2} s during 100 swaps: {rate:F0} requests/s; v1 {sawV1}, v2 {sawV2}");
        Assert.True(rate >= 500, $"only {rate:F0} requests/s during the 100 swaps ({completedDuring} requests in {window.Elapsed.TotalSeconds:F2} s); the issue asks for >= 500");
        Assert.True(ok >= 2000, $"only {ok} requests completed");
        Assert.Equal(ok, sawV1 + sawV2);
        // Each swap is followed by >= 20 answers of which at most 8 (one per client) were in flight on
        // the old chain, so each version served at least 50 * 12 of them.
        Assert.True(sawV1 >= 500 && sawV2 >= 500, $"v1 answered {sawV1}, v2 {sawV2}: a swap did not take effect");
        Assert.Equal(101, chains.Current!.Revision);
        // The first chain was replaced and drained: its VMs are released.
        Assert.True(first.Released);
    }

    [Fact]
    public async Task An_in_flight_request_finishes_on_the_chain_it_started_on()
    {
        await using var proxy = await ProxyHarness.StartAsync(Version("v1"));
        var first = proxy.Server.Chains.Current!;
        var slow = proxy.GetAsync("/slow");
        await proxy.Upstream.SlowStarted.Task;

        Assert.Null(await proxy.Server.Chains.ApplyAsync(PluginFileParser.Parse(Version("v2"), "v2"), "test", CancellationToken.None));
        Assert.Equal("v2", (await proxy.GetAsync("/")).Response.Headers.GetValues("hello").Single());
        Assert.False(first.Released);

        proxy.Upstream.ReleaseSlow();
        var (response, _) = await slow;
        Assert.Equal("v1", response.Headers.GetValues("hello").Single());
        Assert.True(first.Released);
    }
}
