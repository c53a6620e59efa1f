using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// h2c requests to a plain-HTTP cluster go through the HTTP/1.1 forwarder, as HTTP/1.1 requests do: a pooled
/// connection the upstream reset is retried on a new one when that is safe, and what HTTP/2 carries differently
/// (split cookies, a response head that must not wait for the body) reaches each side as HTTP says.
/// </summary>
public sealed class H2cForwardingTests
{
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static Task<ProxyHarness> ProxyToAsync(Uri upstream, string yaml = "plugins: []\n") =>
        ProxyHarness.StartAsync(yaml, o => o.Clusters[ProxyOptions.DefaultCluster] = upstream);

    /// <summary>
    /// Answers the first request on each connection and resets the connection when the next request arrives on it: what
    /// nginx does when a reload closes a keep-alive connection that a request is already on its way to. The proxy cannot
    /// see it coming: the connection was open and quiet when it was reused.
    /// </summary>
    private static Func<RawRequest, NetworkStream, Task<bool>> AnswersOnceThenResets()
    {
        var answered = new ConcurrentDictionary<NetworkStream, bool>();
        return async (_, stream) =>
        {
            if (answered.TryAdd(stream, true))
            {
                await stream.WriteAsync(Encoding.Latin1.GetBytes(Ok));
                return true;
            }

            // Closed with a zero linger, and not shut down first (TcpClient's Dispose would send a FIN): RST, the proxy's
            // read fails with ECONNRESET, as when nginx closes a connection with a request unread in it. A FIN alone
            // HttpClient would have retried itself.
            stream.Socket.LingerState = new LingerOption(true, 0);
            stream.Socket.Dispose();
            return false;
        };
    }

    [Fact]
    public async Task An_h2c_request_on_a_pooled_connection_the_upstream_reset_is_sent_again_on_a_new_one()
    {
        await using var upstream = new RawUpstream(AnswersOnceThenResets());
        await using var proxy = await ProxyToAsync(upstream.Address);

        for (var i = 0; i < 3; i++)
        {
            using var response = await proxy.H2c.GetAsync("/" + i);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("ok", await response.Content.ReadAsStringAsync());
        }

        // Each request after the first went twice: on the connection the upstream reset, then on a new one.
        Assert.Equal(["GET /0 HTTP/1.1", "GET /1 HTTP/1.1", "GET /1 HTTP/1.1", "GET /2 HTTP/1.1", "GET /2 HTTP/1.1"],
            upstream.Requests.Select(r => r.RequestLine));
        Assert.Equal(3, upstream.Connections);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_upstream_retries_total 2", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_requests_total{code=\"2xx\"} 3", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plugins_read_two_upstream_attempts_for_a_request_sent_again_on_a_new_connection()
    {
        await using var upstream = new RawUpstream(AnswersOnceThenResets());
        await using var proxy = await ProxyToAsync(upstream.Address, Yaml(PropertyProbe.Plugin("upstream request_attempt_count")));

        using (var first = await proxy.H2c.GetAsync("/first"))
        {
            Assert.Equal(1, (await PropertyProbe.ReadAsync(proxy.Logs, "RSP", "upstream request_attempt_count")).Int64);
        }

        using var second = await proxy.H2c.GetAsync("/second");

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        // Envoy's attempt count: the response callbacks and on_log see the retry.
        Assert.Equal(2, (await PropertyProbe.ReadAsync(proxy.Logs, "RSP", "upstream request_attempt_count")).Int64);
        await ProxyHarness.EventuallyAsync(async () => (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "upstream request_attempt_count")).Int64 == 2,
            "on_log of the second request reading 2 attempts");
        Assert.Contains("proxy_upstream_retries_total 1", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plugins_see_an_h2c_request_sent_again_on_a_new_connection_once()
    {
        await using var upstream = new RawUpstream(AnswersOnceThenResets());
        await using var proxy = await ProxyToAsync(upstream.Address, Yaml(Plugin("add", Example("add_header"), "add_header", "h2")));

        using var first = await proxy.H2c.GetAsync("/first");
        using var second = await proxy.H2c.GetAsync("/second");

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("h2", second.Headers.GetValues("hello").Single());
        Assert.Equal(3, upstream.Requests.Count);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_callback_duration_seconds_count{plugin=\"default/add\",callback=\"request_headers\"} 2", metrics, StringComparison.Ordinal);
        Assert.Contains("wasm_plugin_callback_duration_seconds_count{plugin=\"default/add\",callback=\"response_headers\"} 2", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_h2c_request_whose_body_went_up_on_a_connection_the_upstream_reset_is_not_sent_again()
    {
        await using var upstream = new RawUpstream(AnswersOnceThenResets());
        await using var proxy = await ProxyToAsync(upstream.Address);
        using (var first = await proxy.H2c.GetAsync("/first"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        using var post = new HttpRequestMessage(HttpMethod.Post, "/orders")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StringContent("pay 10"),
        };
        using var response = await proxy.H2c.SendAsync(post);

        // The upstream may have acted on it: the client is told, as Envoy tells it, and decides.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("upstream connect error or disconnect/reset before headers. reset reason: connection termination",
            await response.Content.ReadAsStringAsync());
        Assert.Equal(["GET /first HTTP/1.1", "POST /orders HTTP/1.1"], upstream.Requests.Select(r => r.RequestLine));
        Assert.Equal(1, upstream.Connections);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_upstream_errors_total 1", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_upstream_retries_total 0", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cookie_fields_an_h2c_client_split_reach_an_http11_upstream_as_one()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address);

        // HttpClient never splits a cookie over HTTP/2 (browsers do, for HPACK): written raw. Kestrel joins the fields,
        // and the request head written for HTTP/1.1 must keep them one (RFC 9113 §8.2.3): a server reads one Cookie line.
        var reply = await RawHttp.SendH2Async(
            proxy.Server.Options.H2cPort,
            [(":method", "GET"), (":scheme", "http"), (":path", "/c"), (":authority", "app"), ("cookie", "a=1"), ("x-other", "x"), ("cookie", "b=2; c=3")]);

        Assert.Equal(200, reply.Status);
        var seen = Assert.Single(upstream.Requests);
        var cookie = Assert.Single(seen.Headers, h => h.Key.Equals("cookie", StringComparison.OrdinalIgnoreCase));
        Assert.Equal("a=1; b=2; c=3", cookie.Value);
        Assert.Equal("x", seen.Header("x-other"));
    }

    [Fact]
    public async Task An_h2c_request_whose_scheme_is_https_is_forwarded_and_plugins_read_its_scheme()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, Yaml(PropertyProbe.Plugin("request scheme")));

        // A hop that ended TLS before this proxy (a gateway, a mesh's ingress) keeps :scheme https on h2c.
        var reply = await RawHttp.SendH2Async(
            proxy.Server.Options.H2cPort, [(":method", "GET"), (":scheme", "https"), (":path", "/s"), (":authority", "app")]);

        Assert.Equal(200, reply.Status);
        Assert.Equal("ok", reply.Body);
        Assert.Equal("https", (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "request scheme")).Text);
        // How the request reached this proxy: cleartext.
        Assert.Equal("http", Assert.Single(upstream.Requests).Header("x-forwarded-proto"));
    }

    [Fact]
    public async Task The_head_of_a_response_without_a_length_reaches_an_h2c_client_before_its_body()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = new RawUpstream(async (_, stream) =>
        {
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"u8.ToArray());
            await release.Task;
            await stream.WriteAsync("7\r\ndata: 1\r\n0\r\n\r\n"u8.ToArray());
            return true;
        });
        await using var proxy = await ProxyToAsync(upstream.Address);

        // Server-sent events: the client knows the stream is open before the first event, as through Envoy.
        using var response = await proxy.H2c.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead).WaitAsync(Patience);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        release.SetResult();

        Assert.Equal("data: 1", await response.Content.ReadAsStringAsync().WaitAsync(Patience));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public async Task Trailer_fields_of_an_http11_upstream_that_no_trailer_may_carry_do_not_reach_an_h2c_client(bool http1Forwarder, bool plugin)
    {
        // RFC 9113 §8.2.2: an HTTP/2 field section with a connection-specific field is malformed; HttpClient, curl and
        // nghttp2 reset the stream (PROTOCOL_ERROR), and the complete response is lost. Content-Length and Host cannot be
        // trailers (RFC 9110 §6.5.1). With a plugin the trailers pass through the plugins' relay.
        await using var upstream = new RawUpstream(RawUpstream.Fixed(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n" +
            "Connection: close\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTE: trailers\r\nContent-Length: 9\r\nHost: evil\r\nx-ok: 1\r\n\r\n"));
        await using var proxy = await ProxyHarness.StartAsync(plugin ? Yaml(Plugin("pass", Wat("pass_through"), "pass")) : "plugins: []\n", o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
            o.Http1Forwarder = http1Forwarder;
        });

        using var response = await proxy.H2c.GetAsync("/t");

        Assert.Equal("ok", await response.Content.ReadAsStringAsync());
        Assert.Equal("1", response.TrailingHeaders.NonValidated["x-ok"].ToString());
        Assert.Equal(["x-ok"], response.TrailingHeaders.NonValidated.Select(t => t.Key));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_trailer_of_an_http11_upstream_with_a_control_character_is_the_upstreams_protocol_error(bool plugin)
    {
        // As in a head (RFC 9110 §5.5). It failed the stream as an unexpected failure with Kestrel's stack trace and,
        // through a plugin, was logged as the plugin's invalid trailer ("fix the plugin that sets it"), the plugin
        // having read it too.
        await using var upstream = new RawUpstream(RawUpstream.Fixed(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-t: a\u0001b\r\n\r\n"));
        var proxy = await ProxyHarness.StartAsync(plugin ? Yaml(Plugin("pass", Wat("pass_through"), "pass")) : "plugins: []\n",
            o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);
        try
        {
            // The body went out before the trailers came: the stream is reset.
            await Assert.ThrowsAnyAsync<HttpRequestException>(async () =>
            {
                using var response = await proxy.H2c.GetAsync("/t");
                await response.Content.ReadAsStringAsync();
            });

            await ProxyHarness.EventuallyAsync(
                () => Task.FromResult(proxy.Logs.Contains("invalid character in response trailer 'x-t'")), "the upstream's fault logged");
            Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("fix the plugin", StringComparison.Ordinal));
            Assert.Contains("proxy_upstream_errors_total 1", await proxy.MetricsAsync(), StringComparison.Ordinal);
        }
        finally
        {
            await proxy.DisposeAsync();
        }

        AssertNoErrorLogged(proxy);
    }

    [Fact]
    public async Task An_h2c_client_resetting_its_stream_mid_upload_is_a_downstream_reset_and_logs_no_error()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        var proxy = await ProxyToAsync(upstream.Address);
        try
        {
            var content = new PipeContent();
            using var post = new HttpRequestMessage(HttpMethod.Post, "/upload")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = content,
            };
            var sending = proxy.H2c.SendAsync(post, HttpCompletionOption.ResponseHeadersRead);
            await content.Writer.WriteAsync("part"u8.ToArray());
            // The forwarder connected upstream and reads the client's body: then the client resets the stream.
            await ProxyHarness.EventuallyAsync(() => Task.FromResult(upstream.Connections == 1), "the upstream connection");
            await content.Writer.CompleteAsync(new IOException("client gave up"));
            await Assert.ThrowsAnyAsync<Exception>(() => sending);

            await ProxyHarness.EventuallyAsync(async () => (await proxy.MetricsAsync()).Contains("proxy_downstream_resets_total 1", StringComparison.Ordinal),
                "the reset counted");
            Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
        }
        finally
        {
            await proxy.DisposeAsync();
        }

        // Kestrel's request body reader rethrew the reset from the forwarder's CancelPendingRead, in the RequestAborted
        // callback: Kestrel logged it as an unhandled exception of the application's, with its stack trace.
        AssertNoErrorLogged(proxy);
    }

    [Fact]
    public async Task An_h2c_upload_shorter_than_its_content_length_is_a_downstream_reset_and_logs_no_error()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        var proxy = await ProxyToAsync(upstream.Address);
        try
        {
            // Kestrel resets the stream when END_STREAM comes before the content-length: the body fails as the client's reset does.
            var reply = await RawHttp.SendH2Async(
                proxy.Server.Options.H2cPort,
                [(":method", "POST"), (":scheme", "http"), (":path", "/upload"), (":authority", "app"), ("content-length", "10")],
                "part"u8.ToArray(),
                beforeBody: () => ProxyHarness.EventuallyAsync(() => Task.FromResult(upstream.Connections == 1), "the upstream connection"));

            Assert.NotNull(reply.ResetCode);
            await ProxyHarness.EventuallyAsync(async () => (await proxy.MetricsAsync()).Contains("proxy_downstream_resets_total 1", StringComparison.Ordinal),
                "the reset counted");
            Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
        }
        finally
        {
            await proxy.DisposeAsync();
        }

        AssertNoErrorLogged(proxy);
    }

    private static void AssertNoErrorLogged(ProxyHarness proxy) =>
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.StartsWith("Error ", StringComparison.Ordinal) || l.StartsWith("Critical ", StringComparison.Ordinal));
}
