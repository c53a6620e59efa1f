using System.Net;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>gRPC callouts from plugins (proxy_grpc_call, proxy_grpc_stream) to a real h2c server on a named cluster.</summary>
public sealed class GrpcCalloutTests
{
    private static async Task<(GrpcUpstream Grpc, ProxyHarness Proxy)> StartAsync(string fixture, string cluster)
    {
        var grpc = await GrpcUpstream.StartAsync();
        var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("caller", Wat(fixture), "caller", cluster)), o => o.Clusters["grpc"] = grpc.Address);
        return (grpc, proxy);
    }

    private static async Task<string> AnswerAsync(ProxyHarness proxy, string method)
    {
        var (response, _) = await proxy.GetAsync("/", ("x-method", method));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task A_unary_call_answered_ok_delivers_only_its_message_to_the_plugin()
    {
        // Envoy (GrpcCallClientHandler): a unary call's success is proxy_on_grpc_receive alone; the fixture traps
        // on any metadata callback, as the Rust SDK does for a token that is not a stream's.
        var (grpc, proxy) = await StartAsync("grpc_unary_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("receive reply=echo:ping", await AnswerAsync(proxy, "Unary"));
            var call = Assert.Single(grpc.Calls);
            Assert.Equal("/test.Echo/Unary", call["path"]);
            Assert.Equal("application/grpc", call["content-type"]);
            Assert.Equal("trailers", call["te"]);
        }
    }

    [Fact]
    public async Task A_unary_call_answered_with_an_error_delivers_only_the_close_with_the_status_from_the_trailers()
    {
        var (grpc, proxy) = await StartAsync("grpc_unary_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            // The server sent a message before status 7: a failed call's message is not delivered (Envoy onFailure).
            Assert.Equal("close status=7 message=denied", await AnswerAsync(proxy, "Deny"));
        }
    }

    [Fact]
    public async Task A_unary_call_to_an_unknown_cluster_closes_with_unavailable_naming_the_cluster()
    {
        var (grpc, proxy) = await StartAsync("grpc_unary_call", "nope");
        await using (grpc)
        await using (proxy)
        {
            Assert.StartsWith("close status=14 message=unknown cluster 'nope'", await AnswerAsync(proxy, "Unary"), StringComparison.Ordinal);
            Assert.Empty(grpc.Calls);
        }
    }

    [Fact]
    public async Task A_unary_call_past_its_timeout_closes_with_deadline_exceeded_and_resets_the_upstream_stream()
    {
        var (grpc, proxy) = await StartAsync("grpc_unary_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            var body = await AnswerAsync(proxy, "Slow");
            Assert.StartsWith("close status=4 message=", body, StringComparison.Ordinal);
            Assert.Contains("500 ms timeout", body, StringComparison.Ordinal);
            await grpc.SlowCancelled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    [Fact]
    public async Task A_stream_sends_messages_as_they_come_and_receives_metadata_messages_trailers_and_close_in_order()
    {
        var (grpc, proxy) = await StartAsync("grpc_stream_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("initial;msg=echo:one;msg=echo:two;trailers;close=0 ok", await AnswerAsync(proxy, "Stream"));
            Assert.Equal("/test.Echo/Stream", Assert.Single(grpc.Calls)["path"]);
        }
    }

    [Fact]
    public async Task A_stream_the_server_ends_early_closes_with_its_status()
    {
        var (grpc, proxy) = await StartAsync("grpc_stream_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("initial;msg=echo:one;trailers;close=7 denied", await AnswerAsync(proxy, "Deny"));
        }
    }

    [Fact]
    public async Task Cancelling_a_stream_resets_it_at_the_upstream()
    {
        var (grpc, proxy) = await StartAsync("grpc_stream_cancel", "grpc");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("cancelled", await AnswerAsync(proxy, "Stream"));
            // The plugin never half-closed: only the cancel (RST_STREAM) ends the call at the server.
            await grpc.Reset.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal("/test.Echo/Stream", Assert.Single(grpc.Calls)["path"]);
        }
    }

    [Fact]
    public async Task A_stream_to_an_unknown_cluster_closes_with_unavailable_naming_the_cluster()
    {
        var (grpc, proxy) = await StartAsync("grpc_stream_call", "nope");
        await using (grpc)
        await using (proxy)
        {
            Assert.StartsWith("close=14 unknown cluster 'nope'", await AnswerAsync(proxy, "Stream"), StringComparison.Ordinal);
            Assert.Empty(grpc.Calls);
        }
    }
}
