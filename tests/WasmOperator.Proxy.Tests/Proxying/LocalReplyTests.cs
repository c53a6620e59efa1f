using System.Net;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// Replies the proxy sends itself go through the response callbacks of the plugins that saw the request,
/// as in Envoy, and take the client's protocol: gRPC callers get gRPC replies, HTTP callers HTTP ones.
/// </summary>
public sealed class LocalReplyTests
{
    [Fact]
    public async Task A_denial_passes_through_the_response_callbacks_of_the_plugins_that_saw_the_request()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(
            Plugin("add", Example("add_header"), "add_header", "on-every-reply", "priority: 10"),
            Plugin("props", Wat("properties_echo"), "props", extra: "priority: 5"),
            Plugin("auth", Example("auth"), "auth", "authz", "priority: 1")));

        var (denied, _) = await proxy.GetAsync("/orders", ("x-allow", "no"));

        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        Assert.Equal("not authorized", await denied.Content.ReadAsStringAsync());
        Assert.Equal("on-every-reply", denied.Headers.GetValues("hello").Single());
        Assert.NotEqual("via_upstream", denied.Headers.GetValues("x-code-details").Single());
        Assert.Equal(0, proxy.Upstream.Requests);
    }

    [Fact]
    public async Task An_upstream_that_cannot_be_reached_is_a_503_the_plugins_see()
    {
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("add", Example("add_header"), "add_header", "seen"), Plugin("props", Wat("properties_echo"), "props")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = new Uri($"http://127.0.0.1:{FreePort.Next()}"));

        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("upstream connect error or disconnect/reset before headers. reset reason: remote connection failure", await response.Content.ReadAsStringAsync());
        Assert.Equal("seen", response.Headers.GetValues("hello").Single());
        Assert.Equal("upstream_reset_before_response_started{remote_connection_failure}", response.Headers.GetValues("x-code-details").Single());
    }

    [Fact]
    public async Task A_grpc_caller_gets_a_grpc_reply_when_the_plugin_answered_with_an_http_status()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("auth", Example("auth"), "auth", "authz")));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/pkg.Service/Method")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
        };
        request.Content.Headers.ContentType = new("application/grpc");

        using var response = await proxy.H2c.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("16", response.Headers.GetValues("grpc-status").Single());
        Assert.Equal("not authorized", Uri.UnescapeDataString(response.Headers.GetValues("grpc-message").Single()));
        Assert.Equal(0, proxy.Upstream.Requests);
    }

    [Fact]
    public async Task An_http_caller_gets_an_http_reply_when_the_plugin_gave_a_grpc_status()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("deny", Wat("grpc_deny"), "")));

        var (response, _) = await proxy.GetAsync("/plain");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("grpc-status"));
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("blocked by wasm", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, proxy.Upstream.Requests);
    }

    [Theory]
    [InlineData(HttpStatusCode.NoContent)]
    [InlineData(HttpStatusCode.NotModified)]
    public async Task A_plugin_reply_whose_status_forbids_a_body_goes_out_without_one(HttpStatusCode status)
    {
        // The plugin gives a body and the proxy used to set its length, which Kestrel refused for 204: a 500 instead.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("reply", Wat("reply_status_from_header"), "reply")));

        var (reply, _) = await proxy.GetAsync("/", ("x-reply-status", ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var (next, _) = await proxy.GetAsync("/", ("x-reply-status", "200"));

        Assert.Equal(status, reply.StatusCode);
        Assert.Equal("yes", reply.Headers.GetValues("x-from-plugin").Single());
        Assert.Empty(await reply.Content.ReadAsByteArrayAsync());
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal("body!", await next.Content.ReadAsStringAsync());
        Assert.Equal(0, proxy.Upstream.Requests);
    }
}
