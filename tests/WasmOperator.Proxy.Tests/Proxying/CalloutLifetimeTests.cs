using System.Net;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// Callouts end with the stream that made them (Envoy cancels a context's calls and resets its gRPC
/// streams when the context is destroyed), and gRPC callouts to one cluster are not limited to the
/// concurrent streams of a single HTTP/2 connection.
/// </summary>
public sealed class CalloutLifetimeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task An_http_callout_is_cancelled_at_the_callee_when_its_client_goes_away()
    {
        await using var callee = await HangingUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("caller", Wat("callout_status_echo"), "http_callout", "callee")), o => o.Clusters["callee"] = callee.Address);
        using var gone = new CancellationTokenSource();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.TryAddWithoutValidation("x-no-timeout", "1");

        var send = proxy.Client.SendAsync(request, gone.Token);
        await callee.Started.Task.WaitAsync(Bound);
        await gone.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
        // The callout has no timeout: only the end of its stream stops it.
        await callee.Aborted.Task.WaitAsync(Bound);
    }

    [Fact]
    public async Task A_grpc_stream_callout_is_reset_at_the_upstream_when_its_client_goes_away()
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("caller", Wat("grpc_stream_call"), "caller", "grpc")), o => o.Clusters["grpc"] = grpc.Address);
        using var gone = new CancellationTokenSource();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.TryAddWithoutValidation("x-method", "Slow");

        var send = proxy.Client.SendAsync(request, gone.Token);
        await grpc.SlowStarted.Task.WaitAsync(Bound);
        await gone.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
        await grpc.SlowCancelled.Task.WaitAsync(Bound);
    }

    [Fact]
    public async Task A_grpc_callout_beyond_the_upstreams_stream_limit_opens_another_connection()
    {
        // The upstream allows one stream per connection: a second call must not wait for the first to end.
        await using var grpc = await GrpcUpstream.StartAsync(maxStreamsPerConnection: 1);
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("caller", Wat("grpc_stream_call"), "caller", "grpc")),
            o => { o.Clusters["grpc"] = grpc.Address; o.PauseTimeout = TimeSpan.FromSeconds(5); });
        using var stalled = new CancellationTokenSource();
        using var slow = new HttpRequestMessage(HttpMethod.Get, "/");
        slow.Headers.TryAddWithoutValidation("x-method", "Slow");
        var pending = proxy.Client.SendAsync(slow, stalled.Token);
        await grpc.SlowStarted.Task.WaitAsync(Bound);

        var (response, _) = await proxy.GetAsync("/", ("x-method", "Stream")).WaitAsync(Bound);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("initial;msg=echo:one;msg=echo:two;trailers;close=0 ok", await response.Content.ReadAsStringAsync());
        // Not by taking the slot of the stalled call once that ended (its pause timeout answers 503).
        Assert.False(pending.IsCompleted);
        await stalled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
    }
}
