using System.Net;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A request a plugin left unsendable (a field name that is no token, a value with CR/LF/NUL, a path without its
/// leading '/', a method that is no token or turns a GET into a HEAD, an authority with a space) gets the same 500 invalid_request_from_plugins on
/// both listeners, with nothing sent upstream, as Envoy's codecs refuse a header a filter made invalid. The HTTP/1.1
/// forwarder wrote an invalid name as it was ("x-user: admin: v" read upstream as x-user), YARP dropped it silently,
/// and a path without '/' threw an unhandled exception.
/// </summary>
public sealed class PluginFieldValidationTests
{
    private static string Setter => Yaml(Plugin("setter", Wat("set_field_from_request"), "setter"));

    private static HttpRequestMessage Request(bool h2c, string name, string value)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/x");
        if (h2c)
        {
            request.Version = HttpVersion.Version20;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        // The fixture turns '~' into LF, '^' into CR and '`' into NUL.
        request.Headers.TryAddWithoutValidation("x-set-name", name);
        request.Headers.TryAddWithoutValidation("x-set-value", value);
        return request;
    }

    [Theory]
    [InlineData(false, "x-user: admin", "v")]
    [InlineData(true, "x-user: admin", "v")]
    [InlineData(false, "bad name", "v")]
    [InlineData(true, "bad name", "v")]
    [InlineData(false, "x-t", "a~b")]
    [InlineData(true, "x-t", "a~b")]
    [InlineData(false, "x-t", "a`b")]
    [InlineData(true, "x-t", "a^b")]
    [InlineData(false, ":path", "foo")]
    [InlineData(true, ":path", "http://evil/x")]
    [InlineData(false, ":path", "/a b")]
    [InlineData(false, ":method", "GE T")]
    [InlineData(true, ":method", "GE T")]
    [InlineData(false, ":method", "HEAD")]
    [InlineData(true, ":method", "HEAD")]
    [InlineData(false, ":authority", "a b")]
    [InlineData(true, ":authority", "a^b")]
    public async Task A_field_a_plugin_left_unsendable_is_a_500_with_nothing_sent_upstream(bool h2c, string name, string value)
    {
        // h2c: through YARP (as to TLS clusters), the other forwarding path.
        await using var proxy = await ProxyHarness.StartAsync(Setter, o => o.Http1Forwarder = !h2c);

        using var request = Request(h2c, name, value);
        var (response, echo) = await proxy.SendAsync(request, h2c ? proxy.H2c : proxy.Client);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Null(echo);
        Assert.Equal(0, proxy.Upstream.Requests);
        Assert.True(proxy.Logs.Contains("invalid_request_from_plugins"), "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_request_whose_path_a_plugin_removed_is_a_500_not_the_original_path(bool h2c)
    {
        // The removal was ignored: the upstream got the client's path while request.path read as absent.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("rm", Wat("remove_path"), "rm")), o => o.Http1Forwarder = !h2c);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/v?q=1");
        if (h2c)
        {
            request.Version = HttpVersion.Version20;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        var (response, echo) = await proxy.SendAsync(request, h2c ? proxy.H2c : proxy.Client);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Null(echo);
        Assert.Equal(0, proxy.Upstream.Requests);
        Assert.True(proxy.Logs.Contains("the plugins removed :path, which a request must have"), "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Theory]
    [InlineData("100", 500)]
    [InlineData("103", 500)]
    [InlineData("201", 201)]
    public async Task A_response_status_a_plugin_sets_applies_when_it_is_a_final_status_and_is_refused_otherwise(string status, int expected)
    {
        // Kestrel would send a 1xx :status as an interim response and never a final one: invalid_response_from_plugins.
        await using var proxy = await ProxyHarness.StartAsync(Setter);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/x");
        request.Headers.TryAddWithoutValidation("x-resp-name", ":status");
        request.Headers.TryAddWithoutValidation("x-resp-value", status);

        using var response = await proxy.Client.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(expected, (int)response.StatusCode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Valid_fields_a_plugin_sets_reach_the_upstream(bool h2c)
    {
        await using var proxy = await ProxyHarness.StartAsync(Setter, o => o.Http1Forwarder = !h2c);

        using var field = Request(h2c, "x-user", "alice");
        var (fieldResponse, fieldEcho) = await proxy.SendAsync(field, h2c ? proxy.H2c : proxy.Client);
        using var path = Request(h2c, ":path", "/rewritten?q=1");
        var (pathResponse, pathEcho) = await proxy.SendAsync(path, h2c ? proxy.H2c : proxy.Client);

        Assert.Equal(HttpStatusCode.OK, fieldResponse.StatusCode);
        Assert.Equal("alice", fieldEcho?.Header("x-user"));
        Assert.Equal(HttpStatusCode.OK, pathResponse.StatusCode);
        Assert.Equal("/rewritten?q=1", pathEcho?.Path);
    }

    [Theory]
    [InlineData(false, "/a/%2e%2e/b?x=%41", "/a/%2e%2e/b?x=%41")]
    [InlineData(true, "/a/%2e%2e/b?x=%41", "/a/%2e%2e/b?x=%41")]
    [InlineData(false, "/a%2Fb/%7e", "/a%2Fb/%7e")]
    [InlineData(true, "/a%2Fb/%7e", "/a%2Fb/%7e")]
    [InlineData(false, "/a#b", "/a%23b")]
    public async Task A_path_a_plugin_sets_reaches_the_upstream_as_the_plugin_wrote_it(bool h2c, string set, string expected)
    {
        await using var proxy = await ProxyHarness.StartAsync(Setter, o => o.Http1Forwarder = !h2c);

        using var request = Request(h2c, ":path", set);
        var (response, echo) = await proxy.SendAsync(request, h2c ? proxy.H2c : proxy.Client);

        // Parsed and written back, the escapes were decoded: /a/%2e%2e/b went upstream as /a/../b, another resource.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, echo?.RawTarget);
    }

    [Fact]
    public async Task A_request_trailer_name_a_plugin_added_that_is_no_token_never_reaches_the_upstream()
    {
        // The forwarder writes request trailers after the body: the head and body went up already, the trailers do not.
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("trailer", Wat("add_request_trailer"), "trailer")),
            o => o.Clusters[WasmOperator.Proxy.Configuration.ProxyOptions.DefaultCluster] = upstream.Address);

        var text = await RawHttp.PostChunkedWithTrailersAsync(proxy.Server.Options.Port, "/upload", "hello", ("x-checksum", "abc"));

        Assert.StartsWith("HTTP/1.1 500", text, StringComparison.Ordinal);
        Assert.Contains("the request as plugins left it cannot be sent", text, StringComparison.Ordinal);
        Assert.DoesNotContain(upstream.Requests, r => r.Trailers.Exists(t => t.Key.StartsWith("x-plugin", StringComparison.Ordinal)));
    }
}
