using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A plugin pauses and resumes each direction of a stream on its own, as Envoy's decoder and encoder filters do: on a
/// gRPC call the request body and the response run at once, so the request may wait at the end of its body (on a
/// callout, say) while the response waits at its head. Each resume is for its direction alone; a reply ends both.
/// </summary>
public sealed class DirectionPauseTests
{
    /// <summary>How long a step may take before the test calls it stuck.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>A resume that was lost shows as the pause timeout's reply, well before the test runs out of patience.</summary>
    private static readonly TimeSpan ShortPause = TimeSpan.FromSeconds(5);

    /// <summary>Plugin <paramref name="fixture"/> in front of <paramref name="grpc"/>; one VM, so the fixture sees every stream.</summary>
    private static Task<ProxyHarness> ProxyAsync(GrpcUpstream grpc, string fixture, TimeSpan pauseTimeout) =>
        ProxyHarness.StartAsync(Yaml(Plugin("plugin", Wat(fixture), "plugin")), o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = grpc.Address;
            o.PauseTimeout = pauseTimeout;
            o.ShardsPerPlugin = 1;
        });

    private static string? GrpcStatus(HttpResponseMessage response) =>
        response.TrailingHeaders.TryGetValues("grpc-status", out var trailer) ? trailer.Single()
        : response.Headers.TryGetValues("grpc-status", out var header) ? header.Single() : null;

    /// <summary>
    /// Opens a Chat call with one message, waits until the plugin logged <paramref name="logged"/> (it reached the state the
    /// test is about while the request was still open), then ends the request and returns the response.
    /// </summary>
    private static async Task<HttpResponseMessage> CallEndingAfterAsync(ProxyHarness proxy, string logged, string what)
    {
        var content = new PipeContent();
        using var request = GrpcUpstream.Call("/test.Echo/Chat", content);
        await content.Writer.WriteAsync(GrpcUpstream.Frame("first"));
        var sending = proxy.H2c.SendAsync(request);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains(logged)), what);
        await content.Writer.CompleteAsync();
        return await sending.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_grpc_call_paused_at_the_end_of_its_request_and_at_its_response_head_is_resumed_both_ways()
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyAsync(grpc, "pause_both_resume_when_both_wait", ShortPause);
        var content = new PipeContent();
        using var request = GrpcUpstream.Call("/test.Echo/Chat", content);
        await content.Writer.WriteAsync(GrpcUpstream.Frame("first"));
        await content.Writer.CompleteAsync();

        // The plugin resumes the request, then the response, once both wait.
        using var response = await proxy.H2c.SendAsync(request).WaitAsync(Patience);

        Assert.Equal("0", GrpcStatus(response));
        Assert.Equal(["echo:first"], GrpcUpstream.Messages(await response.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task A_continue_for_the_request_while_only_the_response_waits_does_nothing_and_does_not_resume_its_later_pause()
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyAsync(grpc, "continue_request_before_it_pauses", ShortPause);
        // The response waits at its head; the request, still streaming, was continued meanwhile. Only then does it end.
        using var response = await CallEndingAfterAsync(proxy, "continued the request before it paused", "the early continue");

        // "late" is added to the request body while its end is paused, then resumed: it went up only if the early
        // continue left the later pause alone.
        Assert.Equal("0", GrpcStatus(response));
        Assert.Equal(["echo:first", "echo:late"], GrpcUpstream.Messages(await response.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task A_reply_while_both_directions_wait_ends_the_call_once_with_that_reply()
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        // A wait the reply left behind would hold the call until its pause timeout, past the test's patience.
        await using var proxy = await ProxyAsync(grpc, "reply_when_both_wait", TimeSpan.FromMinutes(2));
        // The request pauses at its end after the response paused at its head: the reply comes while both wait.
        using var response = await CallEndingAfterAsync(proxy, "response paused", "the response to pause");

        Assert.Equal("7", GrpcStatus(response));
        Assert.Equal("denied", response.Headers.GetValues("grpc-message").Single());
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        // The upstream's half of the call is reset, as Envoy resets it after a local reply; the stream ends once.
        await grpc.Reset.Task.WaitAsync(Patience);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream done")), "the plugin's stream to end");
        Assert.Single(proxy.Logs.Lines, l => l.Contains("stream done", StringComparison.Ordinal));
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_requests_total{code=\"2xx\"} 1", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("FAIL_OPEN")]
    [InlineData("FAIL_CLOSE")]
    public async Task A_vm_that_fails_while_both_directions_wait_applies_the_fail_strategy_once(string strategy)
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("trap", Wat("trap_when_both_wait"), "trap", extra: "failStrategy: " + strategy)), o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = grpc.Address;
            // A wait the failure left behind would hold the call until its pause timeout, past the test's patience.
            o.PauseTimeout = TimeSpan.FromMinutes(2);
            o.ShardsPerPlugin = 1;
        });
        using var response = await CallEndingAfterAsync(proxy, "response paused", "the response to pause");
        var messages = GrpcUpstream.Messages(await response.Content.ReadAsByteArrayAsync());

        // Failing open passes both directions on; failing closed answers 503 (gRPC: unavailable). Either way the one
        // failure is counted once, though both directions learned of it.
        var metrics = await proxy.MetricsAsync();
        if (strategy == "FAIL_OPEN")
        {
            Assert.Equal("0", GrpcStatus(response));
            Assert.Equal(["echo:first"], messages);
            Assert.Contains("wasm_plugin_fail_open_total{plugin=\"default/trap\"} 1", metrics, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal("14", GrpcStatus(response));
            Assert.Contains("wasm_plugin_fail_closed_total{plugin=\"default/trap\"} 1", metrics, StringComparison.Ordinal);
        }

        Assert.Contains("wasm_plugin_traps_total{plugin=\"default/trap\"} 1", metrics, StringComparison.Ordinal);
    }
}
