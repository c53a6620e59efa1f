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
    public async Task A_unary_call_delivers_the_reply_message_and_status_to_the_plugin()
    {
        var (grpc, proxy) = await StartAsync("grpc_unary_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("status=0 message=ok reply=echo:ping", await AnswerAsync(proxy, "Unary"));
            var call = Assert.Single(grpc.Calls);
            Assert.Equal("/test.Echo/Unary", call["path"]);
            Assert.Equal("application/grpc", call["content-type"]);
            Assert.Equal("trailers", call["te"]);
        }
    }

    [Fact]
    public async Task A_unary_call_reports_the_grpc_status_and_message_from_the_trailers()
    {
        var (grpc, proxy) = await StartAsync("grpc_unary_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("status=7 message=denied reply=echo:ping", await AnswerAsync(proxy, "Deny"));
        }
    }

    [Fact]
    public async Task A_unary_call_to_an_unknown_cluster_closes_with_unavailable_naming_the_cluster()
    {
        var (grpc, proxy) = await StartAsync("grpc_unary_call", "nope");
        await using (grpc)
        await using (proxy)
        {
            var body = await AnswerAsync(proxy, "Unary");
            Assert.StartsWith("status=14 message=unknown cluster 'nope'", body, StringComparison.Ordinal);
            Assert.EndsWith(" reply=", body, StringComparison.Ordinal);
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
            Assert.StartsWith("status=4 message=", body, StringComparison.Ordinal);
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
