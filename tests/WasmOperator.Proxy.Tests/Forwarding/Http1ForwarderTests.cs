using System.Net;
using System.Net.Http.Headers;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// The HTTP/1.1 fast path against a scripted upstream: what reaches the upstream, every response
/// framing, hop-by-hop fields, keep-alive reuse and the failures a proxy must turn into 502/503/504.
/// </summary>
public sealed class Http1ForwarderTests
{
    private const string NoPlugins = "plugins: []\n";
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";

    private static Task<ProxyHarness> ProxyToAsync(Uri upstream, Action<ProxyOptions>? configure = null) =>
        ProxyHarness.StartAsync(NoPlugins, o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream;
            configure?.Invoke(o);
        });

    [Fact]
    public async Task Forwards_method_target_and_host_and_drops_hop_by_hop_fields()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address);
        using var request = new HttpRequestMessage(HttpMethod.Delete, "/a/b%20c?x=1&y=%2F");
        request.Headers.TryAddWithoutValidation("Connection", "X-Private");
        request.Headers.TryAddWithoutValidation("X-Private", "secret");
        request.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
        request.Headers.TryAddWithoutValidation("Proxy-Connection", "keep-alive");
        request.Headers.TryAddWithoutValidation("TE", "trailers");
        request.Headers.TryAddWithoutValidation("X-Keep", "1");

        var (response, _) = await proxy.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal("DELETE /a/b%20c?x=1&y=%2F HTTP/1.1", seen.RequestLine);
        Assert.Equal($"127.0.0.1:{proxy.Server.Options.Port}", seen.Header("Host"));
        Assert.Equal("1", seen.Header("X-Keep"));
        Assert.Equal("trailers", seen.Header("TE"));
        Assert.Null(seen.Header("X-Private"));
        Assert.Null(seen.Header("Keep-Alive"));
        Assert.Null(seen.Header("Proxy-Connection"));
        Assert.Null(seen.Header("Connection"));
    }

    [Fact]
    public async Task Cluster_base_path_prefixes_the_request_path()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(new Uri(upstream.Address, "/base/"));

        await proxy.GetAsync("/items?id=7");

        Assert.Equal("GET /base/items?id=7 HTTP/1.1", Assert.Single(upstream.Requests).RequestLine);
    }

    [Fact]
    public async Task Request_bodies_keep_their_length_or_are_sent_chunked()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address);
        var payload = new byte[100_000];
        Random.Shared.NextBytes(payload);

        var (sized, _) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/sized") { Content = new ByteArrayContent(payload) });
        Assert.Equal(HttpStatusCode.OK, sized.StatusCode);
        var streamed = new StreamContent(new NonSeekableStream(payload));
        await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Put, "/streamed") { Content = streamed });

        var requests = upstream.Requests.ToArray();
        Assert.Equal("100000", requests[0].Header("Content-Length"));
        Assert.Null(requests[0].Header("Transfer-Encoding"));
        Assert.Equal(payload, requests[0].Body);
        Assert.Equal("chunked", requests[1].Header("Transfer-Encoding"));
        Assert.Null(requests[1].Header("Content-Length"));
        Assert.Equal(payload, requests[1].Body);
    }

    [Fact]
    public async Task A_chunked_response_is_decoded_and_relayed_whole()
    {
        const string response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n" +
                                 "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Checksum: abc\r\n\r\n";
        await using var upstream = new RawUpstream(RawUpstream.Fixed(response));
        await using var proxy = await ProxyToAsync(upstream.Address);

        var (first, _) = await proxy.GetAsync("/");
        var (second, _) = await proxy.GetAsync("/");

        Assert.Equal("hello world", await first.Content.ReadAsStringAsync());
        Assert.Equal("hello world", await second.Content.ReadAsStringAsync());
        Assert.Equal(1, upstream.Connections); // read to its end, so the connection was reused
    }

    [Fact]
    public async Task A_body_delimited_by_close_is_relayed_and_its_connection_not_reused()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", keepAlive: false));
        await using var proxy = await ProxyToAsync(upstream.Address);

        var (first, _) = await proxy.GetAsync("/");
        var (second, _) = await proxy.GetAsync("/");

        Assert.Equal("until the end", await first.Content.ReadAsStringAsync());
        Assert.Equal("until the end", await second.Content.ReadAsStringAsync());
        Assert.Equal(2, upstream.Connections);
    }

    [Theory]
    [InlineData("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")]
    public async Task An_http10_response_with_transfer_encoding_is_read_and_its_connection_closed(string response)
    {
        // RFC 9112 §6.1: its framing is faulty, whatever its Connection field says.
        await using var upstream = new RawUpstream(RawUpstream.Fixed(response));
        await using var proxy = await ProxyToAsync(upstream.Address);

        var (first, _) = await proxy.GetAsync("/1");
        var (second, _) = await proxy.GetAsync("/2");

        Assert.Equal("ok", await first.Content.ReadAsStringAsync());
        Assert.Equal("ok", await second.Content.ReadAsStringAsync());
        Assert.Equal(2, upstream.Connections);
    }

    [Fact]
    public async Task Head_204_and_interim_responses_carry_no_body()
    {
        await using var upstream = new RawUpstream(async (request, stream) =>
        {
            var reply = request.RequestLine.Split(' ')[1] switch
            {
                "/head" => "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
                "/nocontent" => "HTTP/1.1 204 No Content\r\nX-Done: 1\r\n\r\n",
                _ => "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n" + Ok,
            };
            await stream.WriteAsync(Encoding.ASCII.GetBytes(reply));
            return true;
        });
        await using var proxy = await ProxyToAsync(upstream.Address);

        var (head, _) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/head"));
        var (noContent, _) = await proxy.GetAsync("/nocontent");
        var (interim, _) = await proxy.GetAsync("/interim");
        var (again, _) = await proxy.GetAsync("/head-free");

        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(10, head.Content.Headers.ContentLength);
        Assert.Equal(HttpStatusCode.NoContent, noContent.StatusCode);
        Assert.Equal("1", noContent.Headers.GetValues("X-Done").Single());
        Assert.Equal(HttpStatusCode.OK, interim.StatusCode);
        Assert.Equal("ok", await interim.Content.ReadAsStringAsync());
        Assert.Equal("ok", await again.Content.ReadAsStringAsync());
        Assert.Equal(1, upstream.Connections); // nothing was left unread on the connection
    }

    [Fact]
    public async Task Response_hop_by_hop_fields_are_dropped_and_repeated_fields_kept()
    {
        const string response = "HTTP/1.1 201 Created\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n" +
                                "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Latin: caf\xe9\r\nContent-Length: 0\r\n\r\n";
        await using var upstream = new RawUpstream(RawUpstream.Fixed(response));
        await using var proxy = await ProxyToAsync(upstream.Address);

        var (created, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.False(created.Headers.Contains("X-Hop"));
        Assert.False(created.Headers.Contains("Keep-Alive"));
        Assert.Equal(["a=1", "b=2"], created.Headers.GetValues("Set-Cookie"));
        Assert.True(created.Headers.NonValidated.TryGetValues("X-Latin", out var latin));
        Assert.Equal("caf\xe9", Encoding.Latin1.GetString(Encoding.Latin1.GetBytes(latin.ToString())));
    }

    [Fact]
    public async Task Each_response_on_a_reused_connection_has_only_its_own_fields_and_framing()
    {
        // Without plugins a connection's next response is parsed into its last one's head and read through its body object.
        await using var upstream = new RawUpstream(async (request, stream) =>
        {
            var response = request.RequestLine.Split(' ')[1] switch
            {
                "/five" => "HTTP/1.1 200 OK\r\nX-First: 1\r\nContent-Length: 5\r\n\r\nfirst",
                "/two" => "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
                "/chunked" => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n",
                _ => "HTTP/1.1 204 No Content\r\nX-Last: 1\r\n\r\n",
            };
            await stream.WriteAsync(Encoding.Latin1.GetBytes(response));
            return true;
        });
        await using var proxy = await ProxyToAsync(upstream.Address);

        var (five, _) = await proxy.GetAsync("/five");
        var fiveBody = await five.Content.ReadAsStringAsync();
        var (two, _) = await proxy.GetAsync("/two");
        var twoBody = await two.Content.ReadAsStringAsync();
        var (chunked, _) = await proxy.GetAsync("/chunked");
        var chunkedBody = await chunked.Content.ReadAsStringAsync();
        var (none, _) = await proxy.GetAsync("/none");
        var (again, _) = await proxy.GetAsync("/two");

        Assert.Equal(("first", "1"), (fiveBody, five.Headers.GetValues("X-First").Single()));
        Assert.Equal((HttpStatusCode.Created, "ok", 2L), (two.StatusCode, twoBody, two.Content.Headers.ContentLength));
        Assert.False(two.Headers.Contains("X-First"));
        Assert.Equal(("abc", true), (chunkedBody, chunked.Headers.TransferEncodingChunked));
        Assert.Equal(HttpStatusCode.NoContent, none.StatusCode);
        Assert.Equal(["1"], none.Headers.GetValues("X-Last"));
        Assert.Equal(("ok", false, false), (await again.Content.ReadAsStringAsync(), again.Headers.Contains("X-Last"), again.Headers.Contains("X-First")));
        Assert.Equal(1, upstream.Connections);
    }

    [Fact]
    public async Task Keep_alive_connections_are_reused()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address);

        for (var i = 0; i < 20; i++)
        {
            var (response, _) = await proxy.GetAsync("/" + i);
            Assert.Equal("ok", await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(1, upstream.Connections);
        Assert.Equal(20, upstream.Requests.Count);
    }

    [Fact]
    public async Task A_keep_alive_connection_the_upstream_closed_is_retried_on_a_new_one()
    {
        // The upstream answers without "Connection: close" and then closes: the pooled connection is dead.
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok, keepAlive: false));
        await using var proxy = await ProxyToAsync(upstream.Address);

        for (var i = 0; i < 5; i++)
        {
            var (response, _) = await proxy.GetAsync("/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(5, upstream.Requests.Count);
        Assert.Equal(5, upstream.Connections);
    }

    [Fact]
    public async Task An_unreachable_upstream_is_503_with_envoys_reason()
    {
        var closedPort = FreePort.Next();
        await using var proxy = await ProxyToAsync(new Uri($"http://127.0.0.1:{closedPort}"));

        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("upstream connect error or disconnect/reset before headers. reset reason: remote connection failure", await response.Content.ReadAsStringAsync());
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.True(proxy.Logs.Contains("upstream connection failure (UF)"), "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_forwarding_failure_is_logged_in_one_line_on_either_path(bool fastPath)
    {
        var closedPort = FreePort.Next();
        await using var proxy = await ProxyToAsync(new Uri($"http://127.0.0.1:{closedPort}"), o => o.Http1Forwarder = fastPath);

        var (response, _) = await proxy.GetAsync("/orders?id=7");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        // YARP's path logged YARP's own warning for the same failure too, with its stack trace.
        var warnings = proxy.Logs.Lines.Where(l => !l.StartsWith("Information ", StringComparison.Ordinal) && !l.StartsWith("Debug ", StringComparison.Ordinal));
        // The line names the request, where it went, what failed and what the client got, as an access log would.
        var line = Assert.Single(warnings);
        Assert.Contains($"forwarding failed: GET /orders (route default, cluster upstream at 127.0.0.1:{closedPort}): upstream connection failure (UF): ", line, StringComparison.Ordinal);
        Assert.EndsWith("; answered 503", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_body_that_stalls_through_yarp_gets_408_logged_in_one_line_and_is_no_client_reset()
    {
        // YARP's path (as to a TLS cluster): the client sends one chunk and then nothing, the upstream waits for the rest.
        await using var upstream = await HangingUpstream.StartAsync();
        await using var proxy = await ProxyToAsync(upstream.Address, o =>
        {
            o.Http1Forwarder = false;
            o.UpstreamTimeout = TimeSpan.FromSeconds(1);
        });
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync("POST /upload HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n"u8.ToArray());

        var head = new byte[256];
        var read = await stream.ReadAsync(head).AsTask().WaitAsync(TimeSpan.FromSeconds(20));

        Assert.StartsWith("HTTP/1.1 408 ", Encoding.ASCII.GetString(head, 0, read), StringComparison.Ordinal);
        // Logged by YARP alone before, whose forwarder now logs only errors: the only trace was a client reset counted.
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("request body timeout: POST /upload")), "the timeout logged");
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_downstream_resets_total 0", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("garbage\r\n\r\n")]
    [InlineData("HTTP/1.1 2000 Nope\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\n folded: value\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok")]
    [InlineData("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX-A: a\u0001b\r\nContent-Length: 2\r\n\r\nok")] // a control character (RFC 9110 §5.5)
    [InlineData("HTTP/1.1 200 OK\r\nX-A: a\u007fb\r\nContent-Length: 2\r\n\r\nok")] // DEL
    [InlineData("HTTP/1.1 200 OK\r\nX-A: a\u001b[31mb\r\nContent-Length: 2\r\n\r\nok")] // ESC
    public async Task An_invalid_response_is_502(string response)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(response, keepAlive: false));
        await using var proxy = await ProxyToAsync(upstream.Address);

        var (reply, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.BadGateway, reply.StatusCode);
        Assert.True(proxy.Logs.Contains("invalid upstream response (UPE)"), "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\nX-A: 1\nContent-Length: 2\n\nok")]
    [InlineData("HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\n\nok")]
    [InlineData("HTTP/1.1 200 OK\nX-A: 1\r\nContent-Length: 2\n\r\nok")]
    public async Task A_response_head_with_bare_lf_line_ends_is_read_as_envoy_reads_it(string response)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(response));
        await using var proxy = await ProxyToAsync(upstream.Address, o => o.UpstreamTimeout = TimeSpan.FromSeconds(3));

        var (first, _) = await proxy.GetAsync("/1");
        var (second, _) = await proxy.GetAsync("/2");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("1", first.Headers.GetValues("X-A").Single());
        Assert.Equal("ok", await first.Content.ReadAsStringAsync());
        Assert.Equal("ok", await second.Content.ReadAsStringAsync());
        Assert.Equal(1, upstream.Connections); // the framing was understood: nothing was left unread
    }

    [Fact]
    public async Task A_head_ended_by_bare_lfs_ends_there_not_at_a_later_crlf_in_the_body()
    {
        // Read up to the first CRLFCRLF, the head would take the first body as its reason phrase and relay the second.
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\nContent-Length: 2\n\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON"));
        await using var proxy = await ProxyToAsync(upstream.Address);

        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal("ok", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("2\nok\r\n0\r\n\r\n")]
    [InlineData("2;ext\nok\r\n0\r\n\r\n")]
    [InlineData("2\r\nok\n0\r\n\r\n")]
    [InlineData("2\r\nok\r\n0\r\n\n")]
    [InlineData("2\r\nok\r\n0\r\nX-T: a\rb\r\n\r\n")]
    public async Task Chunked_framing_with_a_bare_lf_or_cr_fails_at_once_instead_of_waiting_for_a_crlf(string body)
    {
        // Chunk lines are not start or field lines: a bare LF there is refused (RFC 9112 §2.2, §7.1), never taken as a line end.
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body));
        await using var proxy = await ProxyToAsync(upstream.Address, o => o.UpstreamTimeout = TimeSpan.FromSeconds(3));

        using var response = await proxy.Client.GetAsync("/", HttpCompletionOption.ResponseHeadersRead);
        var cut = await Record.ExceptionAsync(() => response.Content.ReadAsByteArrayAsync());

        // Refused before any of the body went out: 502; after: the response is reset. Never the timeout.
        Assert.True(response.StatusCode == HttpStatusCode.BadGateway || cut is HttpRequestException or IOException,
            $"{response.StatusCode}, body read: {cut?.GetType().Name ?? "complete"}");
        // The reset can reach the client before the proxy has logged why.
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("chunked response:")), "the framing error to be logged");
        Assert.False(proxy.Logs.Contains("upstream request timeout (UT)"), "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Fact]
    public async Task An_upstream_that_stalls_is_504_after_the_upstream_timeout()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = new RawUpstream(async (_, _) =>
        {
            await release.Task;
            return false;
        });
        await using var proxy = await ProxyToAsync(upstream.Address, o => o.UpstreamTimeout = TimeSpan.FromMilliseconds(300));

        var (response, _) = await proxy.GetAsync("/");
        release.SetResult();

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.True(proxy.Logs.Contains("upstream request timeout (UT)"), "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Fact]
    public async Task A_body_cut_short_resets_the_downstream_response()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b", keepAlive: false));
        await using var proxy = await ProxyToAsync(upstream.Address);

        var failure = await Record.ExceptionAsync(async () =>
        {
            using var response = await proxy.Client.GetAsync("/", HttpCompletionOption.ResponseHeadersRead);
            await response.Content.ReadAsByteArrayAsync();
        });

        Assert.True(failure is HttpRequestException or IOException, $"expected a broken response, got {failure?.GetType().Name ?? "success"}");
    }

    [Fact]
    public async Task A_client_that_goes_away_closes_the_upstream_request()
    {
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = new RawUpstream(async (_, stream) =>
        {
            received.SetResult();
            // Never answers; learns that the proxy closed the connection when the read ends.
            await RawUpstream.ReadUntilClosedAsync(stream);
            closed.TrySetResult();
            return false;
        });
        await using var proxy = await ProxyToAsync(upstream.Address);
        using var cancel = new CancellationTokenSource();

        var call = proxy.Client.GetAsync("/slow", cancel.Token);
        await received.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);

        await closed.Task.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Plugins_see_responses_that_came_over_the_fast_path()
    {
        const string response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        await using var upstream = new RawUpstream(RawUpstream.Fixed(response));
        var yaml = TestModules.Yaml(TestModules.Plugin("add", TestModules.Example("add_header"), "add_header", "fast"));
        await using var proxy = await ProxyHarness.StartAsync(yaml, o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        var (first, _) = await proxy.GetAsync("/");
        var (second, _) = await proxy.GetAsync("/");

        Assert.Equal("fast", first.Headers.GetValues("hello").Single());
        Assert.Equal("abc", await first.Content.ReadAsStringAsync());
        Assert.Equal("abc", await second.Content.ReadAsStringAsync());
        Assert.Equal(1, upstream.Connections);
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public async Task A_client_resetting_its_connection_mid_upload_is_a_downstream_reset_and_logs_no_error(bool plugin, bool fastPath)
    {
        // The upstream reads the request head and then whatever comes; it never answers.
        await using var upstream = new RawUpstream(async (_, stream) =>
        {
            var sink = new byte[64 * 1024];
            while (await stream.ReadAsync(sink) > 0)
            {
            }

            return false;
        });
        var yaml = plugin ? TestModules.Yaml(TestModules.Plugin("add", TestModules.Example("add_header"), "add_header", "x")) : NoPlugins;
        var proxy = await ProxyHarness.StartAsync(yaml, o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
            o.Http1Forwarder = fastPath;
        });
        const int Uploads = 12;
        try
        {
            for (var i = 1; i <= Uploads; i++)
            {
                using var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
                var stream = client.GetStream();
                await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 10000000\r\n\r\n"));
                await stream.WriteAsync(new byte[256 * 1024]);
                // The body goes upstream as it comes: the forwarder is reading the client's body when the client resets.
                // Waited for as the request's head upstream, not as one more connection: HttpClient keeps a connection
                // whose request was cancelled while it connected, and the next upload went on it (a loaded run waited
                // 20 s for a connection that never came).
                var head = i;
                await ProxyHarness.EventuallyAsync(() => Task.FromResult(upstream.Heads >= head), "the request head upstream");
                client.Client.LingerState = new System.Net.Sockets.LingerOption(true, 0);
                client.Client.Close();
            }

            await ProxyHarness.EventuallyAsync(async () => (await proxy.MetricsAsync()).Contains($"proxy_downstream_resets_total {Uploads}", StringComparison.Ordinal),
                "every reset counted");
            var metrics = await proxy.MetricsAsync();
            // No response went out: none is counted by class (a 400 was, for the "malformed" body).
            Assert.All(new[] { "2xx", "4xx", "5xx" }, c => Assert.Contains($"proxy_requests_total{{code=\"{c}\"}} 0", metrics, StringComparison.Ordinal));
            Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
        }
        finally
        {
            await proxy.DisposeAsync();
        }

        // Kestrel drained the body of a request whose read had failed with the reset: "automatic draining of the request
        // body failed because the body reader is in an invalid state", an error-level log line per reset.
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.StartsWith("Error ", StringComparison.Ordinal) || l.StartsWith("Critical ", StringComparison.Ordinal));
    }

    /// <summary>A stream without a length, so HttpClient sends the body chunked.</summary>
    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
