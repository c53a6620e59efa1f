using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// What must never cross from one request (or one client) to the next on the fast path: split heads,
/// smuggled requests, stray response bytes, repeated non-idempotent requests, re-encoded framings.
/// </summary>
public sealed class ForwarderHardeningTests
{
    private static Task<ProxyHarness> ProxyToAsync(Uri upstream, string plugins = "plugins: []\n") =>
        ProxyHarness.StartAsync(plugins, o => o.Clusters[ProxyOptions.DefaultCluster] = upstream);

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    [Fact]
    public async Task A_header_value_with_cr_lf_from_a_plugin_never_reaches_the_upstream()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyToAsync(upstream.Address, Yaml(Plugin("inject", Wat("inject_header"), "inject")));

        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.DoesNotContain(upstream.Requests, r => r.Header("X-Injected") is not null);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task A_body_a_plugin_grows_while_it_streams_under_a_content_length_is_not_sent_past_it()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyToAsync(upstream.Address, Yaml(Plugin("grow", Wat("grow_body"), "grow")));
        var body = new byte[40_000];
        Ascii("GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n").CopyTo(body, body.Length - 35);

        var (response, _) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new ByteArrayContent(body) });

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        await Task.Delay(200);
        Assert.DoesNotContain(upstream.Requests, r => r.RequestLine.Contains("/smuggled", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bytes_an_upstream_sends_on_an_idle_connection_are_never_read_as_the_next_clients_response()
    {
        var first = 0;
        await using var upstream = new RawUpstream(async (request, stream) =>
        {
            if (Interlocked.Increment(ref first) == 1)
            {
                await stream.WriteAsync(Ascii("HTTP/1.1 204 No Content\r\n\r\n"));
                // A body nobody asked for, after the 204 went back to the pool.
                _ = Task.Run(async () =>
                {
                    await Task.Delay(100);
                    await stream.WriteAsync(Ascii("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSECRET"));
                });
                return true;
            }

            var path = request.RequestLine.Split(' ')[1];
            await stream.WriteAsync(Ascii($"HTTP/1.1 200 OK\r\nContent-Length: {path.Length}\r\n\r\n{path}"));
            return true;
        });
        await using var proxy = await ProxyToAsync(upstream.Address);

        var (noContent, _) = await proxy.GetAsync("/first");
        await Task.Delay(400);
        var (second, _) = await proxy.GetAsync("/second-user");

        Assert.Equal(HttpStatusCode.NoContent, noContent.StatusCode);
        Assert.Equal("/second-user", await second.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_post_whose_reused_connection_closes_before_the_answer_is_not_sent_again()
    {
        await using var upstream = new RawUpstream(async (request, stream) =>
        {
            if (request.RequestLine.StartsWith("POST", StringComparison.Ordinal))
            {
                return false; // read it, then close without answering
            }

            await stream.WriteAsync(Ascii("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
            return true;
        });
        await using var proxy = await ProxyToAsync(upstream.Address);
        await proxy.GetAsync("/warm");

        // A bodyless POST (no Content-Length, no Transfer-Encoding), written raw: HttpClient would add Content-Length: 0.
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Ascii("POST /transfer?amount=100 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
        var reply = await new StreamReader(stream, Encoding.ASCII).ReadToEndAsync();

        Assert.StartsWith("HTTP/1.1 503", reply, StringComparison.Ordinal);
        Assert.Single(upstream.Requests, r => r.RequestLine.StartsWith("POST", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("gzip, chunked")]
    [InlineData("xchunked")]
    public async Task A_response_transfer_coding_other_than_chunked_is_a_502(string coding)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed($"HTTP/1.1 200 OK\r\nTransfer-Encoding: {coding}\r\n\r\n2\r\nok\r\n0\r\n\r\n", keepAlive: false));
        await using var proxy = await ProxyToAsync(upstream.Address);

        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }
    [Theory]
    [InlineData("HTTP/1.1", false)]
    [InlineData("HTTP/1.1", true)]
    [InlineData("HTTP/1.0", false)]
    public async Task A_response_with_both_content_length_and_transfer_encoding_is_a_502_and_its_connection_not_reused(string version, bool h2c)
    {
        // RFC 9112 §6.3: the two framings disagree (here the chunked body is 5 bytes, the length says 100), which is how
        // responses are smuggled; relayed as chunked, the connection went back to the pool. nginx and Envoy answer 502.
        var first = 0;
        await using var upstream = new RawUpstream(async (_, stream) =>
        {
            await stream.WriteAsync(Ascii(Interlocked.Increment(ref first) == 1
                ? $"{version} 200 OK\r\nConnection: keep-alive\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
            return true;
        });
        await using var proxy = await ProxyToAsync(upstream.Address);
        var client = h2c ? proxy.H2c : proxy.Client;

        using var both = await client.GetAsync("/both");
        using var next = await client.GetAsync("/next");

        Assert.Equal(HttpStatusCode.BadGateway, both.StatusCode);
        Assert.Equal("ok", await next.Content.ReadAsStringAsync());
        Assert.Equal(2, upstream.Connections);
    }

    [Theory]
    [InlineData("gzip, chunked", false)]
    [InlineData("identity, chunked", false)]
    [InlineData("chunked, chunked", false)]
    [InlineData("chunked\r\nTransfer-Encoding: chunked", false)]
    [InlineData("gzip, chunked", true)]
    public async Task A_request_transfer_coding_other_than_chunked_is_a_501_before_plugins_or_the_upstream_see_it(string coding, bool plugin)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        // The plugin holds the body whole, lets "yeses" pass and sends it with a Content-Length: the coding would be lost before the forwarder.
        await using var proxy = await ProxyToAsync(upstream.Address, plugin ? Yaml(Plugin("authz", Wat("body_authz"), "authz")) : "plugins: []\n");

        var reply = await RawRequestAsync(proxy, $"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {coding}\r\n\r\n5\r\nyeses\r\n0\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 501", reply, StringComparison.Ordinal);
        Assert.Contains("Connection: close", reply, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("[still open]", reply, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
        Assert.Equal(0, proxy.Authorizer.Requests);
    }

    [Theory]
    [InlineData("chunked")]
    [InlineData("Chunked")]
    public async Task A_request_with_chunked_alone_is_forwarded_chunked(string coding)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyToAsync(upstream.Address);

        var reply = await RawRequestAsync(proxy, $"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {coding}\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", reply, StringComparison.Ordinal);
        Assert.Equal("hello", Encoding.ASCII.GetString(Assert.Single(upstream.Requests).Body));
    }

    [Fact]
    public async Task A_body_larger_than_kestrels_default_limit_is_forwarded_whole()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyToAsync(upstream.Address);
        const int size = 31_000_000; // Kestrel refuses more than 30,000,000 bytes unless told otherwise

        var (response, _) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Put, "/big") { Content = new ByteArrayContent(new byte[size]) });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(size, Assert.Single(upstream.Requests).Body.Length);
    }
    [Fact]
    public async Task A_malformed_request_body_is_the_clients_400_not_an_upstream_failure()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyToAsync(upstream.Address);

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Ascii("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nnot a chunk\r\n"));
        var reply = await new StreamReader(stream, Encoding.ASCII).ReadToEndAsync();

        Assert.StartsWith("HTTP/1.1 400", reply, StringComparison.Ordinal);
        Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10000000000000005\r\nhello\r\n0\r\n\r\n", false)]
    [InlineData("5\r\nhello\r\n10000000000000005\r\nhello\r\n0\r\n\r\n", false)]
    [InlineData("5\r\nhello\r\n10000000000000005\r\nhello\r\n0\r\n\r\n", true)]
    public async Task A_client_chunk_size_that_overflows_is_the_clients_400_not_an_upstream_failure(string body, bool pluginHoldsBody)
    {
        // Kestrel reports this one as a bare IOException, not a BadHttpRequestException; with a plugin holding the body
        // the proxy reads it itself, and that read answered an unhandled 500.
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyToAsync(upstream.Address, pluginHoldsBody ? Yaml(Plugin("hold", Wat("hold_request_body"), "hold")) : "plugins: []\n");

        var reply = await RawRequestAsync(proxy, "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body);

        Assert.StartsWith("HTTP/1.1 400", reply, StringComparison.Ordinal);
        Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Request_trailer_fields_no_trailer_may_carry_are_not_sent_upstream(bool h2c, bool plugin)
    {
        // A content-length or transfer-encoding after the body means nothing (RFC 9110 §6.5.1), but an upstream that merges
        // trailers into the header section would frame or route the request by them. Kestrel's HTTP/2 refuses connection
        // fields in trailers itself; its HTTP/1.1 takes them all.
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyToAsync(upstream.Address, plugin ? Yaml(Plugin("pass", Wat("pass_through"), "pass")) : "plugins: []\n");
        (string, string)[] trailers = [("content-length", "5"), ("transfer-encoding", "chunked"), ("host", "evil"), ("x-ok", "1")];

        if (h2c)
        {
            var reply = await RawHttp.SendH2Async(proxy.Server.Options.H2cPort,
                [(":method", "POST"), (":scheme", "http"), (":path", "/upload"), (":authority", "app")], "hello"u8.ToArray(), trailers);
            Assert.Equal(200, reply.Status);
        }
        else
        {
            var reply = await RawHttp.PostChunkedWithTrailersAsync(proxy.Server.Options.Port, "/upload", "hello",
                [.. trailers, ("connection", "close"), ("keep-alive", "timeout=5"), ("upgrade", "h2c")]);
            Assert.StartsWith("HTTP/1.1 200", reply, StringComparison.Ordinal);
        }

        var received = Assert.Single(upstream.Requests);
        Assert.Equal("hello", Encoding.ASCII.GetString(received.Body));
        Assert.Equal(["x-ok"], received.Trailers.Select(t => t.Key));
    }

    /// <summary>
    /// Writes <paramref name="request"/> on a new connection and returns what came back by the time the proxy closed it,
    /// or after 5 s with "[still open]" appended.
    /// </summary>
    private static Task<string> RawRequestAsync(ProxyHarness proxy, string request) =>
        RawHttp.ExchangeAsync(proxy.Server.Options.Port, request, TimeSpan.FromSeconds(5));
}
