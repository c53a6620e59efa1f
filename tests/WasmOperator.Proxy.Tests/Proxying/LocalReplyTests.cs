using System.Net;
using Microsoft.AspNetCore.Http;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Proxying;
using WasmOperator.ProxyWasm.Host;
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
            Plugin("auth", Example("auth"), "auth", extra: TestModules.AuthzConfig + "\npriority: 1")));

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
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("auth", Example("auth"), "auth", extra: TestModules.AuthzConfig)));
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
        // Percent-encoded as Envoy does, spaces kept (it was "not%20authorized").
        Assert.Equal("not authorized", response.Headers.GetValues("grpc-message").Single());
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

    [Theory]
    [InlineData("100", false)]
    [InlineData("101", false)]
    [InlineData("103", true)]
    [InlineData("000", false)]
    [InlineData("099", true)]
    [InlineData("600", false)]
    public async Task A_plugin_reply_with_no_final_status_goes_out_as_500(string status, bool h2c)
    {
        // A 1xx left the client waiting for a final response (h2: the stream reset), below 100 went out as 200 OK: a
        // denial read as a success. The plugin meant to stop the request: it stays stopped, as 500, with its body.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("reply", Wat("reply_status_from_header"), "reply")));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/x");
        request.Headers.Add("x-reply-status", status);
        if (h2c)
        {
            request.Version = HttpVersion.Version20;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        var raw = h2c ? null : await RawHttp.GetAsync(proxy.Server.Options.Port, "/x", "app", ("x-reply-status", status)).WaitAsync(TimeSpan.FromSeconds(10));
        using var response = h2c ? await proxy.H2c.SendAsync(request) : null;

        if (raw is not null)
        {
            Assert.StartsWith("HTTP/1.1 500", raw, StringComparison.Ordinal);
            Assert.EndsWith("body!", raw, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(HttpStatusCode.InternalServerError, response!.StatusCode);
            Assert.Equal("body!", await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(0, proxy.Upstream.Requests);
        Assert.True(proxy.Logs.Contains("is no final status"), "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Fact]
    public async Task A_plugin_reply_keeps_every_value_of_a_repeated_header()
    {
        // An OIDC login redirect sets the state and the nonce cookies: the browser must get both.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("oidc", Wat("redirect_with_cookies"), "oidc")));
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });

        using var response = await client.GetAsync($"http://127.0.0.1:{proxy.Server.Options.Port}/app");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(new Uri("https://idp.example/authorize"), response.Headers.Location);
        Assert.Equal(["state=abc; Path=/; HttpOnly", "nonce=xyz; Path=/; HttpOnly"], response.Headers.GetValues("Set-Cookie"));
        Assert.Equal(0, proxy.Upstream.Requests);
    }

    [Fact]
    public void The_proxy_sets_the_framing_and_a_body_less_reply_has_no_content_type()
    {
        var plugin = Headers((":status", "200"), ("content-length", "99"), ("transfer-encoding", "chunked"), ("content-type", "application/json"),
            ("x-a", "1"), ("x-a", "2"));

        var (withBody, _) = LocalReply.Build(HttpRequestFor("text/plain"), new LocalResponse(401, "denied", "{}"u8.ToArray(), plugin, null));
        var (empty, _) = LocalReply.Build(HttpRequestFor("text/plain"), new LocalResponse(401, "denied", [], plugin, null));

        Assert.Equal([(":status", "401"), ("content-type", "application/json"), ("x-a", "1"), ("x-a", "2"), ("content-length", "2")], Entries(withBody));
        // Envoy's prepareLocalReply removes the content type of a reply left without a body.
        Assert.Equal([(":status", "401"), ("x-a", "1"), ("x-a", "2"), ("content-length", "0")], Entries(empty));
    }

    [Fact]
    public void A_grpc_reply_keeps_the_plugins_grpc_status_and_sets_its_own_content_type_and_message()
    {
        var plugin = Headers(("content-type", "text/html"), ("grpc-status", "7"), ("grpc-message", "from-header"), ("x-b", "1"), ("x-b", "2"));

        var (withBody, _) = LocalReply.Build(HttpRequestFor("application/grpc"), new LocalResponse(403, "denied", "no"u8.ToArray(), plugin, 16));
        var (noBody, _) = LocalReply.Build(HttpRequestFor("application/grpc"), new LocalResponse(403, "denied", [], Headers(("grpc-message", "kept")), null));

        // Envoy sets grpc-status only when the plugin's headers have none, and grpc-message from a non-empty body.
        Assert.Equal([(":status", "200"), ("content-type", "application/grpc"), ("grpc-message", "no"), ("grpc-status", "7"), ("x-b", "1"), ("x-b", "2"), ("content-length", "0")],
            Entries(withBody));
        Assert.Equal([(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "7"), ("grpc-message", "kept"), ("content-length", "0")], Entries(noBody));
    }

    private static HttpRequest HttpRequestFor(string contentType) => new DefaultHttpContext { Request = { Method = "POST", ContentType = contentType } }.Request;

    private static HeaderMap Headers(params (string Name, string Value)[] entries)
    {
        var map = new HeaderMap();
        foreach (var (name, value) in entries)
        {
            map.Add(name, value);
        }

        return map;
    }

    private static (string, string)[] Entries(HeaderMap map) => [.. map.Entries.Select(e => (e.Key, e.Value))];
}
