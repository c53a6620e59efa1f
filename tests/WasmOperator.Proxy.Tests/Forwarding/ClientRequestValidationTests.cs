using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.ForwardingPaths;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// Requests Kestrel takes but Envoy's HTTP/1 codec and connection manager refuse: a CONNECT no route accepts, a control
/// character in a header value, a fragment in the target, both Content-Length and Transfer-Encoding. Answered by the
/// proxy itself, before plugins or an upstream see them, on every forwarding path. Written raw: HttpClient would refuse
/// or normalize these bytes.
/// </summary>
public sealed class ClientRequestValidationTests
{
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    [Fact]
    public async Task A_connect_is_answered_404_by_the_proxy_not_blamed_on_the_upstream()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address);

        var reply = await RawRequestAsync(proxy, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");

        // As Envoy answers a CONNECT no route matches (route_not_found, NR); the connection is closed, so tunnel bytes
        // the client sends on are never read as a request.
        Assert.StartsWith("HTTP/1.1 404", reply, StringComparison.Ordinal);
        Assert.Contains("Connection: close", reply, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("[still open]", reply, StringComparison.Ordinal);
        Assert.DoesNotContain("upstream connect error", reply, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_requests_total{code=\"4xx\"} 1", metrics, StringComparison.Ordinal);
        Assert.True(proxy.Logs.Contains("CONNECT example.com:443: CONNECT is not supported here"), string.Join("\n", proxy.Logs.Lines));
    }

    [Theory]
    [InlineData("a\u0001b", Via.Fast)]
    [InlineData("a\u0001b", Via.Yarp)]
    [InlineData("a\u0001b", Via.Plugin)]
    [InlineData("a\u001bb", Via.Fast)]
    [InlineData("a\u000bb", Via.Fast)]
    [InlineData("a\u007fb", Via.Fast)]
    [InlineData("a\u007fb", Via.Plugin)]
    public async Task A_control_character_in_a_header_value_is_a_400_that_never_reaches_the_upstream(string value, Via path)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, path);

        var reply = await RawHttp.GetAsync(proxy.Server.Options.Port, "/x", "app", ("X-Note", value));

        Assert.StartsWith("HTTP/1.1 400", reply, StringComparison.Ordinal);
        Assert.Contains($"request header field X-Note has the control character 0x{(int)value[1]:X2}", reply, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_requests_total{code=\"4xx\"} 1", metrics, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("X\u0001A", Via.Fast)]
    [InlineData("X\u000bA", Via.Fast)]
    [InlineData("X\u007fA", Via.Fast)]
    [InlineData("X(A)", Via.Fast)]
    [InlineData("Transfer-Encoding,", Via.Fast)]
    [InlineData("X\u000bA", Via.Yarp)]
    [InlineData("X\u000bA", Via.Plugin)]
    public async Task A_header_name_that_is_no_token_is_a_400_that_never_reaches_the_upstream(string name, Via path)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, path);

        // Kestrel's HTTP/1.1 parser takes these names; written on as they came, an upstream that trims "Transfer-Encoding\x0b"
        // reads the body's framing from it (smuggling). Envoy's codec refuses them (HeaderUtility::headerNameIsValid).
        var reply = await RawHttp.GetAsync(proxy.Server.Options.Port, "/x", "app", (name, "v"));

        Assert.StartsWith("HTTP/1.1 400", reply, StringComparison.Ordinal);
        Assert.Contains("is not an HTTP token", reply, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_requests_total{code=\"4xx\"} 1", metrics, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("TE", "trailers\u0001", Via.Fast)]
    [InlineData("Keep-Alive", "timeout=5\u0001", Via.Fast)]
    [InlineData("Expect", "x\u007f", Via.Fast)]
    [InlineData("TE", "trailers\u0001", Via.Plugin)]
    public async Task A_control_character_in_a_hop_by_hop_field_is_a_400_as_in_any_other(string name, string value, Via path)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, path);

        // Such fields are not forwarded as they came, but a control character in one is refused all the same, with or
        // without plugins (it was dropped and the request served without them), as Envoy's codec refuses it.
        var reply = await RawHttp.GetAsync(proxy.Server.Options.Port, "/x", "app", (name, value));

        Assert.StartsWith("HTTP/1.1 400", reply, StringComparison.Ordinal);
        Assert.Contains($"request header field {name} has the control character", reply, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_control_character_in_an_h2c_header_value_is_a_400_that_never_reaches_the_upstream(bool http1Forwarder)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, http1Forwarder ? Via.Fast : Via.Yarp);

        var reply = await RawHttp.SendH2Async(proxy.Server.Options.H2cPort,
            [(":method", "GET"), (":scheme", "http"), (":path", "/x"), (":authority", "app"), ("x-note", "a\u0001b")]);

        Assert.Equal(400, reply.Status);
        Assert.Contains("request header field x-note has the control character 0x01", reply.Body, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData(Via.Fast)]
    [InlineData(Via.Plugin)]
    public async Task A_tab_in_a_header_value_still_passes(Via path)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, path);

        var reply = await RawHttp.GetAsync(proxy.Server.Options.Port, "/x", "app", ("X-Note", "a\tb"));

        Assert.StartsWith("HTTP/1.1 200", reply, StringComparison.Ordinal);
        Assert.Equal("a\tb", Assert.Single(upstream.Requests).Header("X-Note"));
    }

    [Theory]
    [InlineData("/a#frag", Via.Fast)]
    [InlineData("/a#frag", Via.Yarp)]
    [InlineData("/a#frag", Via.Plugin)]
    [InlineData("/a?x=1#frag", Via.Fast)]
    public async Task A_fragment_in_the_target_is_a_400_not_another_path_upstream(string target, Via path)
    {
        // Forwarded, "/a#frag" went up as "/a%23frag": another resource than plugins saw. Envoy refuses it by default.
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, path);

        var reply = await RawHttp.GetAsync(proxy.Server.Options.Port, target);

        Assert.StartsWith("HTTP/1.1 400", reply, StringComparison.Ordinal);
        Assert.Contains("has a fragment ('#frag')", reply, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData(Via.Fast)]
    [InlineData(Via.Plugin)]
    public async Task A_request_with_both_content_length_and_transfer_encoding_is_a_400_and_closes(Via path)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, path);

        var reply = await RawRequestAsync(proxy,
            "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");

        // Kestrel read it chunked and handed the upstream an X-Content-Length of its own making; Envoy and nginx answer 400.
        Assert.StartsWith("HTTP/1.1 400", reply, StringComparison.Ordinal);
        Assert.Contains("both Content-Length and Transfer-Encoding 'chunked'", reply, StringComparison.Ordinal);
        Assert.Contains("Connection: close", reply, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("[still open]", reply, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData("chunked, chunked", "applies chunked more than once")]
    [InlineData("chunked\r\nTransfer-Encoding: chunked", "applies chunked more than once")]
    [InlineData("gzip, chunked", "is not supported, only 'chunked' alone is")]
    public async Task A_refused_transfer_coding_says_what_is_wrong_with_it(string coding, string says)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address);

        var reply = await RawRequestAsync(proxy, $"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {coding}\r\n\r\n5\r\nhello\r\n0\r\n\r\n");

        // Envoy answers both 501 (http1.invalid_transfer_encoding); "other than 'chunked'" was wrong for chunked twice.
        Assert.StartsWith("HTTP/1.1 501", reply, StringComparison.Ordinal);
        Assert.Contains(says, reply, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }

    private static Task<string> RawRequestAsync(ProxyHarness proxy, string request) =>
        RawHttp.ExchangeAsync(proxy.Server.Options.Port, request, TimeSpan.FromSeconds(10));
}
