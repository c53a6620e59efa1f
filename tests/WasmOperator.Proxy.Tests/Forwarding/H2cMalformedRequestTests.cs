using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// What an h2c client can send that an HTTP/1.1 request cannot carry (HPACK takes any bytes in a field, <c>:path</c> included): refused with
/// 400 before plugins or an upstream see it, as Envoy's codec refuses a malformed HTTP/2 request, on both forwarding
/// paths. Written raw into the upstream's HTTP/1.1 head, such a field would be read there as another field, or frame
/// a smuggled request.
/// </summary>
public sealed class H2cMalformedRequestTests
{
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    private static Task<ProxyHarness> ProxyToAsync(Uri upstream, bool http1Forwarder = true, string yaml = "plugins: []\n") =>
        ProxyHarness.StartAsync(yaml, o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream;
            o.Http1Forwarder = http1Forwarder;
        });

    private static (string, string)[] Get(string path, params (string, string)[] more) =>
        [(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", "app"), .. more];

    [Theory]
    // "x-internal-auth:trusted" is not x-internal-auth to the proxy (nor to a plugin that strips or checks that field),
    // but written raw it is "x-internal-auth: trusted: 1" upstream.
    [InlineData("x-internal-auth:trusted", true)]
    [InlineData("x-internal-auth:trusted", false)]
    // No framing field to the proxy, which writes its own; an upstream that tolerates the space frames the body by it.
    [InlineData("transfer-encoding ", true)]
    [InlineData("x-(a)", true)]
    [InlineData("x-a\x7f", true)]
    [InlineData("x a", false)]
    public async Task A_header_name_that_is_no_token_is_a_400_and_never_reaches_the_upstream(string name, bool http1Forwarder)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, http1Forwarder);

        var reply = await RawHttp.SendH2Async(proxy.Server.Options.H2cPort, Get("/", (name, "1")));

        Assert.Equal(400, reply.Status);
        Assert.Contains("is not an HTTP token", reply.Body, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
        Assert.Contains("proxy_requests_total{code=\"4xx\"} 1", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Theory]
    // Kestrel leaves the query as it came: written raw, it forged the upstream's request line ("GET /q?x HTTP/1.0 HTTP/1.1").
    [InlineData("/q?x HTTP/1.0", true)]
    [InlineData("/q?x HTTP/1.0", false)]
    [InlineData("/q?a\tb", true)]
    [InlineData("/q?a\u0001b", true)]
    [InlineData("/q?a\u007fb", true)]
    // The path part went out escaped (%20), but Envoy's codec refuses it as well, and plugins saw another path than the client sent.
    [InlineData("/q b", true)]
    // As Kestrel answers an HTTP/1.1 client whose target has bytes above 0x7F: through HTTP/2 they were read as Latin-1 and
    // the path re-encoded as UTF-8 ("/caf\u00c3\u00a9" went up as /caf%C3%83%C2%A9).
    [InlineData("/caf\u00c3\u00a9", true)]
    [InlineData("/q?caf\u00c3\u00a9", false)]
    public async Task A_path_with_a_space_a_control_or_a_byte_outside_ascii_is_a_400_and_never_reaches_the_upstream(string path, bool http1Forwarder)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, http1Forwarder);

        var reply = await RawHttp.SendH2Async(proxy.Server.Options.H2cPort, Get(path));

        Assert.Equal(400, reply.Status);
        Assert.Contains("percent-encode", reply.Body, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task A_percent_encoded_path_and_query_reach_the_upstream_as_sent()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address);

        var reply = await RawHttp.SendH2Async(proxy.Server.Options.H2cPort, Get("/caf%C3%A9?q=x%20HTTP/1.0&r=%09"));

        Assert.Equal(200, reply.Status);
        Assert.Equal("GET /caf%C3%A9?q=x%20HTTP/1.0&r=%09 HTTP/1.1", Assert.Single(upstream.Requests).RequestLine);
    }

    [Fact]
    public async Task Plugins_never_see_a_request_with_a_header_name_that_is_no_token()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, yaml: Yaml(Plugin("add", Example("add_header"), "add_header", "h2")));

        var reply = await RawHttp.SendH2Async(proxy.Server.Options.H2cPort, Get("/", ("x-user:admin", "1")));
        using var fine = await proxy.H2c.GetAsync("/fine");

        Assert.Equal(400, reply.Status);
        Assert.Equal("h2", fine.Headers.GetValues("hello").Single());
        Assert.Single(upstream.Requests);
        // One request reached the plugin: the valid one.
        Assert.Contains("wasm_plugin_callback_duration_seconds_count{plugin=\"default/add\",callback=\"request_headers\"} 1", await proxy.MetricsAsync(),
            StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_request_trailer_http11_cannot_carry_is_the_clients_400_and_never_reaches_the_upstream(bool plugin)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        // The plugin logs the trailers it sees: it must see none of these.
        await using var proxy = await ProxyToAsync(upstream.Address, yaml: plugin ? Yaml(Plugin("trailers", Wat("request_trailer_read"), "trailers")) : "plugins: []\n");
        (string, string)[] post = [(":method", "POST"), (":scheme", "http"), (":path", "/upload"), (":authority", "app")];

        // Kestrel's HTTP/2 takes both in trailers (not in headers): the name would be x-a upstream, the value a new line.
        var badName = await RawHttp.SendH2Async(proxy.Server.Options.H2cPort, post, "hello"u8.ToArray(), [("x-a:b", "1")]);
        var badValue = await RawHttp.SendH2Async(proxy.Server.Options.H2cPort, post, "hello"u8.ToArray(), [("x-a", "1\r\nx-injected: 1")]);

        Assert.NotEqual(200, badName.Status);
        Assert.NotEqual(200, badValue.Status);
        Assert.DoesNotContain(upstream.Requests, r => r.Trailers.Count > 0);
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("request trailer", StringComparison.Ordinal));
        // The client's fault, not the plugins' (500 invalid_request_from_plugins) nor the upstream's.
        Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }
}
