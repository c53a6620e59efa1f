using System.Net;
using System.Net.Http.Headers;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>Request and response trailers reach plugins (on_request_trailers / on_response_trailers), over h2c and HTTP/1.1 chunked.</summary>
public sealed class TrailerTests
{
    private static HttpRequestMessage GrpcCall(string path, string message)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new ByteArrayContent(GrpcUpstream.Frame(message)),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        return request;
    }

    [Fact]
    public async Task A_plugin_adds_and_rewrites_grpc_response_trailers_over_h2c_after_a_body_callback_without_end_of_stream()
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("trailers", Wat("response_trailer_add"), "trailers")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = grpc.Address);

        using var request = GrpcCall("/test.Echo/Unary", "hi");
        using var response = await proxy.H2c.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["echo:hi"], GrpcUpstream.Messages(body));
        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Equal("rewritten by wasm", response.TrailingHeaders.GetValues("grpc-message").Single());
        Assert.Equal("added", response.TrailingHeaders.GetValues("x-wasm-trailer").Single());
        // Trailers followed, so the last body callback had end_of_stream false (as in Envoy).
        Assert.Equal("0", response.TrailingHeaders.GetValues("x-last-body-eos").Single());
    }

    [Fact]
    public async Task A_log_only_plugin_sees_response_trailers_but_its_trailer_edits_are_counted_not_applied()
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("trailers", Wat("response_trailer_add"), "trailers", extra: "mode: LOG_ONLY")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = grpc.Address);

        using var request = GrpcCall("/test.Echo/Unary", "hi");
        using var response = await proxy.H2c.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(["echo:hi"], GrpcUpstream.Messages(body));
        Assert.Equal("ok", response.TrailingHeaders.GetValues("grpc-message").Single());
        Assert.False(response.TrailingHeaders.Contains("x-wasm-trailer"));
        Assert.Contains(
            "wasm_plugin_log_only_actions_total{plugin=\"default/trailers\",action=\"header_mutation\"} 1",
            await proxy.MetricsAsync(),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plugin_pausing_on_response_trailers_for_a_callout_resumes_with_the_trailers_it_added()
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("pause", Wat("response_trailer_pause"), "pause")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = grpc.Address);

        using var request = GrpcCall("/test.Echo/Unary", "hi");
        using var response = await proxy.H2c.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(["echo:hi"], GrpcUpstream.Messages(body));
        Assert.Equal("200", response.TrailingHeaders.GetValues("x-authz-status").Single());
        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Equal(1, proxy.Authorizer.Requests);
    }

    [Fact]
    public async Task A_plugin_creates_response_trailers_in_the_last_body_callback_when_the_upstream_sent_none()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("eos", Wat("response_trailer_at_eos"), "eos")));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/plain") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await proxy.H2c.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"Path\":\"/plain\"", text, StringComparison.Ordinal);
        Assert.Equal("yes", response.TrailingHeaders.GetValues("x-added-at-eos").Single());
    }

    [Fact]
    public async Task A_response_trailer_no_frame_can_carry_resets_the_stream_with_a_clear_warning()
    {
        // It failed the stream as an unexpected error, with a stack trace (Kestrel's InvalidOperationException on the name).
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("bad", Wat("response_trailer_bad_name"), "bad")));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/plain") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await proxy.H2c.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => response.Content.ReadAsStringAsync());

        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains(
            "the plugins set a response trailer field named 'bad name', which is no field name (RFC 9110 token); fix the plugin that adds it; its body had gone out, so its stream is reset")),
            "the warning");
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("unexpected failure", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Response_trailers_a_log_only_plugin_creates_at_the_end_of_the_body_are_counted_not_sent()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("eos", Wat("response_trailer_at_eos"), "eos", extra: "mode: LOG_ONLY")));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/plain") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await proxy.H2c.SendAsync(request);
        await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.TrailingHeaders.Contains("x-added-at-eos"));
        Assert.Contains(
            "wasm_plugin_log_only_actions_total{plugin=\"default/eos\",action=\"header_mutation\"} 1\n",
            await proxy.MetricsAsync(),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Grpc_response_trailers_pass_through_unchanged_without_trailer_plugins()
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("add", Example("add_header"), "add_header", "v")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = grpc.Address);

        using var request = GrpcCall("/test.Echo/Deny", "x");
        using var response = await proxy.H2c.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(["echo:x"], GrpcUpstream.Messages(body));
        Assert.Equal("v", response.Headers.GetValues("hello").Single());
        Assert.Equal("7", response.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Equal("denied", response.TrailingHeaders.GetValues("grpc-message").Single());
    }

    [Fact]
    public async Task A_plugin_reads_a_request_trailer_of_a_chunked_http11_request()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("reader", Wat("request_trailer_read"), "reader")));

        var text = await RawHttp.PostChunkedWithTrailersAsync(proxy.Server.Options.Port, "/upload", "hello", ("x-checksum", "abc123"));

        Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
        Assert.Contains("x-request-trailer: abc123\r\n", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("x-request-body-eos: 0\r\n", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\"Body\":\"hello\"", text, StringComparison.Ordinal);
        Assert.True(proxy.Logs.Contains("request trailer x-checksum=abc123 body-eos=0"));
    }

    [Theory]
    [InlineData("pass_through")]
    [InlineData("hold_request_body")]
    public async Task Request_trailers_of_a_chunked_http11_request_reach_the_upstream_also_when_a_plugin_held_the_whole_body(string fixture)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("body", Wat(fixture), "body")), o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        var text = await RawHttp.PostChunkedWithTrailersAsync(proxy.Server.Options.Port, "/upload", "hello", ("x-checksum", "abc123"));

        Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
        var received = Assert.Single(upstream.Requests);
        Assert.Equal("hello", Encoding.ASCII.GetString(received.Body));
        Assert.Equal("chunked", received.Header("Transfer-Encoding"));
        Assert.Null(received.Header("Content-Length"));
        Assert.Equal("abc123", Assert.Single(received.Trailers, t => t.Key.Equals("x-checksum", StringComparison.OrdinalIgnoreCase)).Value);
    }

    /// <summary>
    /// Envoy's addDecodedTrailers: in the last request body callback a plugin may create request trailers the client did
    /// not send; a chunked request carries them upstream. Before, the map was absent there and nothing went on.
    /// </summary>
    /// <param name="h2c">An h2c client's request without a content-length, which goes up chunked.</param>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task A_plugin_creates_request_trailers_in_the_last_body_callback_that_reach_the_upstream_of_a_chunked_request(bool logOnly, bool h2c)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("eos", Wat("request_trailer_at_eos"), "eos", extra: logOnly ? "mode: LOG_ONLY" : "")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        if (h2c)
        {
            var reply = await RawHttp.SendH2Async(
                proxy.Server.Options.H2cPort,
                [(":method", "POST"), (":scheme", "http"), (":path", "/upload"), (":authority", "app")],
                "hello"u8.ToArray());
            Assert.Equal(200, reply.Status);
        }
        else
        {
            var text = await RawHttp.PostChunkedWithTrailersAsync(proxy.Server.Options.Port, "/upload", "hello");
            Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
        }

        var received = Assert.Single(upstream.Requests);
        Assert.Equal("hello", Encoding.ASCII.GetString(received.Body));
        if (logOnly)
        {
            Assert.DoesNotContain(received.Trailers, t => t.Key.Equals("x-added-at-eos", StringComparison.OrdinalIgnoreCase));
            Assert.Contains(
                "wasm_plugin_log_only_actions_total{plugin=\"default/eos\",action=\"header_mutation\"} 1\n",
                await proxy.MetricsAsync(),
                StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal("chunked", received.Header("Transfer-Encoding"));
            Assert.Equal("yes", Assert.Single(received.Trailers, t => t.Key.Equals("x-added-at-eos", StringComparison.OrdinalIgnoreCase)).Value);
        }
    }

    /// <summary>
    /// Trailers a plugin creates on a request the client framed with a Content-Length leave its framing alone, however its
    /// body arrives: one segment (read whole before forwarding) or two (its head went up with the length while it
    /// streamed). The first went up chunked with the trailers and the second with its length and without: which one a
    /// client got depended on its TCP segments. Envoy's HTTP/1 codec sends no trailers on such a request either.
    /// </summary>
    /// <param name="split">The body comes in two segments, the second after the first was forwarded.</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Request_trailers_a_plugin_creates_leave_a_content_length_request_framed_by_its_length(bool split)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("eos", Wat("request_trailer_at_eos"), "eos")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, proxy.Server.Options.Port);
        var wire = client.GetStream();
        await wire.WriteAsync("POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello"u8.ToArray());
        if (split)
        {
            await ProxyHarness.EventuallyAsync(() => Task.FromResult(upstream.Heads == 1), "the request head to go up while the body streams");
        }

        await wire.WriteAsync("world"u8.ToArray());
        using var reader = new StreamReader(wire, Encoding.Latin1);
        Assert.StartsWith("HTTP/1.1 200", await reader.ReadToEndAsync(), StringComparison.Ordinal);

        var received = Assert.Single(upstream.Requests);
        Assert.Equal("helloworld", Encoding.ASCII.GetString(received.Body));
        Assert.Equal("10", received.Header("Content-Length"));
        Assert.Null(received.Header("Transfer-Encoding"));
        Assert.Empty(received.Trailers);
    }

    /// <summary>
    /// Envoy's decodeData: request trailers a plugin creates in its last body callback end the body for the plugins after
    /// it, which get the body with end_of_stream false and then on_request_trailers with those trailers. Before, they got
    /// end_of_stream true and never their trailers callback.
    /// </summary>
    [Fact]
    public async Task Plugins_after_the_one_that_creates_request_trailers_at_the_end_of_the_body_get_their_trailers_callback()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyHarness.StartAsync(
            // Chain order is by name: "eos" then "reader".
            Yaml(Plugin("eos", Wat("request_trailer_at_eos"), "eos"), Plugin("reader", Wat("request_trailer_read"), "reader")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        var text = await RawHttp.PostChunkedWithTrailersAsync(proxy.Server.Options.Port, "/upload", "hello");

        Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
        Assert.Contains("x-request-body-eos: 0\r\n", text, StringComparison.OrdinalIgnoreCase);
        Assert.True(proxy.Logs.Contains("request trailer x-checksum= body-eos=0"), string.Join("\n", proxy.Logs.Lines));
        var received = Assert.Single(upstream.Requests);
        Assert.Equal("hello", Encoding.ASCII.GetString(received.Body));
        Assert.Equal("yes", Assert.Single(received.Trailers, t => t.Key.Equals("x-added-at-eos", StringComparison.OrdinalIgnoreCase)).Value);
    }

    /// <summary>
    /// Envoy's encodeData, in the response's (reverse) order: the plugin before the one that creates response trailers at
    /// the end of the body gets the body with end_of_stream false, then on_response_trailers, whose edits reach the client.
    /// </summary>
    [Fact]
    public async Task Plugins_after_the_one_that_creates_response_trailers_at_the_end_of_the_body_get_their_trailers_callback()
    {
        await using var proxy = await ProxyHarness.StartAsync(
            // Chain order is by name: "add" then "eos", so "eos" runs first on the response.
            Yaml(Plugin("add", Wat("response_trailer_add"), "add"), Plugin("eos", Wat("response_trailer_at_eos"), "eos")));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/plain") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await proxy.H2c.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"Path\":\"/plain\"", text, StringComparison.Ordinal);
        Assert.Equal("yes", response.TrailingHeaders.GetValues("x-added-at-eos").Single());
        Assert.Equal("added", response.TrailingHeaders.GetValues("x-wasm-trailer").Single());
        Assert.Equal("0", response.TrailingHeaders.GetValues("x-last-body-eos").Single());
    }

    [Fact]
    public async Task Without_request_trailers_the_last_request_body_callback_has_end_of_stream()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("reader", Wat("request_trailer_read"), "reader")));

        using var request = new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new StringContent("hello") };
        var (response, echo) = await proxy.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("1", response.Headers.GetValues("x-request-body-eos").Single());
        Assert.False(response.Headers.Contains("x-request-trailer"));
        Assert.Equal("hello", echo?.Body);
        Assert.False(proxy.Logs.Contains("request trailer x-checksum="));
    }

    [Fact]
    public async Task A_request_without_trailers_passes_a_plugin_that_reads_its_trailers_in_the_body_callback_as_the_rust_sdk_does()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("pairs", Wat("request_trailer_pairs_in_body"), "pairs")));

        using var request = new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new StringContent("hello") };
        var (response, echo) = await proxy.SendAsync(request);

        // The trailers that never came read as an empty map (OK, no pairs), as in Envoy; NOT_FOUND trapped the plugin.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hello", echo?.Body);
        Assert.True(proxy.Logs.Contains("request trailer pairs: 0 bytes"), string.Join("\n", proxy.Logs.Lines));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_plugin_reads_a_request_trailer_of_an_h2c_grpc_call(bool emptyData)
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("reader", Wat("request_trailer_read"), "reader")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = grpc.Address);

        var frames = await RawHttp.PostH2WithTrailersAsync(
            proxy.Server.Options.H2cPort,
            "/test.Echo/Unary",
            [("content-type", "application/grpc"), ("te", "trailers")],
            emptyData ? [GrpcUpstream.Frame("hi"), []] : [GrpcUpstream.Frame("hi")],
            [("x-checksum", "h2sum")]);

        Assert.Equal(1, frames[0]); // response HEADERS, not RST_STREAM
        Assert.DoesNotContain((byte)3, frames);
        Assert.True(proxy.Logs.Contains("request trailer x-checksum=h2sum body-eos=0"), string.Join("\n", proxy.Logs.Lines));
        Assert.Equal("/test.Echo/Unary", Assert.Single(grpc.Calls)["path"]);
    }
    /// <summary>
    /// An h2c client may end the body with an empty DATA frame before its trailers (HEADERS with END_STREAM): the trailers
    /// still reach the plugins and the upstream. Guards the end-of-body reads (Kestrel wakes a reader on the empty frame);
    /// <paramref name="length"/>: the client declared a content-length, and the request still goes up chunked to carry them.
    /// </summary>
    [Theory]
    [InlineData("none", false)]
    [InlineData("pass_through", false)]
    [InlineData("request_trailer_read", true)]
    [InlineData("hold_request_body", true)]
    public async Task Request_trailers_of_an_h2c_request_that_come_after_an_empty_data_frame_reach_the_plugins_and_the_upstream(string fixture, bool length)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyHarness.StartAsync(fixture == "none" ? "plugins: []\n" : Yaml(Plugin("body", Wat(fixture), "body")), o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        var frames = await RawHttp.PostH2WithTrailersAsync(
            proxy.Server.Options.H2cPort,
            "/upload",
            length ? [("content-length", "5")] : [],
            ["hello"u8.ToArray(), []],
            [("x-checksum", "h2sum")]);

        Assert.Equal(1, frames[0]); // response HEADERS, not RST_STREAM
        var received = Assert.Single(upstream.Requests);
        Assert.Equal("hello", Encoding.ASCII.GetString(received.Body));
        Assert.Equal("h2sum", Assert.Single(received.Trailers, t => t.Key.Equals("x-checksum", StringComparison.OrdinalIgnoreCase)).Value);
        if (fixture == "request_trailer_read")
        {
            Assert.True(proxy.Logs.Contains("request trailer x-checksum=h2sum body-eos=0"), string.Join("\n", proxy.Logs.Lines));
        }
    }

    [Fact]
    public async Task A_plugin_reads_the_grpc_status_property_in_its_trailers_callback()
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("props", Wat("properties_echo"), "props")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = grpc.Address);

        using var ok = GrpcCall("/test.Echo/Unary", "hi");
        using var okResponse = await proxy.H2c.SendAsync(ok);
        await okResponse.Content.ReadAsByteArrayAsync();
        using var denied = GrpcCall("/test.Echo/Deny", "hi");
        using var deniedResponse = await proxy.H2c.SendAsync(denied);
        await deniedResponse.Content.ReadAsByteArrayAsync();

        Assert.Equal("0", okResponse.TrailingHeaders.GetValues("x-grpc-status").Single());
        Assert.Equal("7", deniedResponse.TrailingHeaders.GetValues("x-grpc-status").Single());
        Assert.Equal($"127.0.0.1:{grpc.Address.Port}", okResponse.Headers.GetValues("x-upstream-address").Single());
    }
}
