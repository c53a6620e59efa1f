using System.Net;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// An h2c client multiplexing more calls than Kestrel's default of 100 on one connection (a gRPC client holding many
/// long-lived streams): every one reaches the upstream at once, as through Envoy.
/// </summary>
public sealed class H2cConcurrentStreamsTests
{
    [Fact]
    public async Task Calls_past_100_on_one_connection_all_reach_the_upstream_at_once()
    {
        const int Calls = 150;
        var arrived = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The upstream answers none until every call is there: with a limit of 100 streams the rest never come.
        await using var upstream = new RawUpstream(async (_, stream) =>
        {
            if (Interlocked.Increment(ref arrived) == Calls)
            {
                all.TrySetResult();
            }

            await all.Task;
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.ToArray());
            return true;
        });
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n", o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        var calls = Enumerable.Range(0, Calls).Select(i => proxy.H2c.GetAsync($"/watch/{i}")).ToArray();
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(Volatile.Read(ref arrived) == Calls), $"all {Calls} calls at the upstream");

        var responses = await Task.WhenAll(calls);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public void The_flag_sets_the_limit() =>
        Assert.Equal(5000, ProxyArguments.Parse(["--max-concurrent-streams", "5000"]).MaxConcurrentStreams);
}
