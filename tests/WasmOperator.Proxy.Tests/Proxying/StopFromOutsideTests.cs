using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A plugin that let the stream go on (Continue, no body held) answers or closes it from a callout's answer while the
/// request body or the response streams: as Envoy's sendLocalReply and resetStream do from any context, the reply goes
/// to the client at once (the upstream request is cancelled), or the stream is reset once the response started, however
/// long the client or the upstream then sends nothing. In each test the callout is answered only once the stream is
/// where the test wants it, and the peers send nothing more afterwards.
/// </summary>
public sealed class StopFromOutsideTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <remarks>
    /// Over h2c the request is a gRPC call: YARP flushes a gRPC call's body to the upstream as it comes (another body only
    /// as its buffer fills), so the upstream tells when the client's bytes passed the plugins.
    /// </remarks>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task A_reply_or_close_from_a_callout_while_the_request_body_streams_upstream_reaches_the_client_before_the_rest_of_the_body(
        bool grpcOverH2c, bool close)
    {
        await using var upstream = await BodyWatcher.StartAsync(grpcOverH2c ? HttpProtocols.Http2 : HttpProtocols.Http1);
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.Address, authorizer.Address);
        using var timeout = new CancellationTokenSource(Patience);

        if (grpcOverH2c)
        {
            var content = new PipeContent();
            try
            {
                var sending = SendGrpcAsync(proxy, content, close, timeout.Token);
                await content.Writer.WriteAsync("hello"u8.ToArray(), timeout.Token);
                await upstream.SawHello.Task.WaitAsync(timeout.Token);
                authorizer.Open();
                if (close)
                {
                    // RST_STREAM, not the test's timeout.
                    await Assert.ThrowsAsync<HttpRequestException>(() => sending);
                }
                else
                {
                    using var response = await sending;

                    // A gRPC client gets the reply as a trailers-only answer: 403 is PERMISSION_DENIED.
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    Assert.Equal("7", response.Headers.GetValues("grpc-status").Single());
                    Assert.Equal("denied", response.Headers.GetValues("grpc-message").Single());
                }
            }
            finally
            {
                await content.Writer.CompleteAsync();
            }
        }
        else
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
            var stream = client.GetStream();
            var closeField = close ? "x-close: 1\r\n" : "";
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /up HTTP/1.1\r\nHost: a\r\n{closeField}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), timeout.Token);
            await upstream.SawHello.Task.WaitAsync(timeout.Token);
            authorizer.Open();
            if (close)
            {
                // The connection ends without an answer (a FIN or a reset, whichever the socket reports).
                Assert.Equal("", await ReadUntilClosedAsync(stream, timeout.Token));
            }
            else
            {
                var answer = await StreamText.ReadUntilAsync(stream, "denied", timeout.Token);
                Assert.StartsWith("HTTP/1.1 403", answer, StringComparison.Ordinal);
                Assert.EndsWith("\r\n\r\ndenied", answer, StringComparison.Ordinal);
            }
        }

        // The upstream request was cancelled (its body ended before its end), by the plugin, not by a failure of the upstream.
        await upstream.Cut.Task.WaitAsync(timeout.Token);
        Assert.Contains("proxy_upstream_errors_total 0\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public async Task A_reply_from_a_callout_once_the_response_streams_resets_the_stream_while_the_upstream_sends_nothing_more(bool h2c, bool http1Forwarder)
    {
        var upstreamClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = new RawUpstream(async (_, stream) =>
        {
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"u8.ToArray());
            try
            {
                // Nothing more is sent: this read ends when the proxy gives up the request.
                await stream.ReadExactlyAsync(new byte[1]);
            }
            catch (Exception ex) when (ex is IOException or EndOfStreamException)
            {
                upstreamClosed.TrySetResult();
            }

            return false;
        });
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.Address, authorizer.Address, http1Forwarder);
        using var timeout = new CancellationTokenSource(Patience);

        using var response = await (h2c ? proxy.H2c : proxy.Client).GetAsync("/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        var body = await response.Content.ReadAsStreamAsync(timeout.Token);
        Assert.Equal("hello", await StreamText.ReadUntilAsync(body, "hello", timeout.Token));
        authorizer.Open();
        var failure = await Record.ExceptionAsync(async () =>
        {
            var buffer = new byte[1024];
            while (await body.ReadAsync(buffer, timeout.Token) > 0)
            {
            }
        });

        // The response had started: the stream is reset (HTTP/1.1: the connection closes mid-body; h2: RST_STREAM), not
        // ended as if complete, and not left waiting for the test's timeout. The reset is the plugin's: counted as a close
        // is, and said in one line (before, neither).
        Assert.IsAssignableFrom<IOException>(failure);
        await upstreamClosed.Task.WaitAsync(timeout.Token);
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains("proxy_requests_total{code=\"2xx\"} 1\n", StringComparison.Ordinal), "the request to be done");
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_plugin_resets_total 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_downstream_resets_total 0\n", metrics, StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("GET /events: a plugin's local reply (403) came after the response had started, so the stream was reset", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public async Task A_reply_from_a_callout_before_the_upstream_answers_reaches_the_client_and_cancels_the_upstream_request(bool h2c, bool http1Forwarder)
    {
        await using var upstream = await HangingUpstream.StartAsync();
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.Address, authorizer.Address, http1Forwarder);
        using var timeout = new CancellationTokenSource(Patience);

        var sending = (h2c ? proxy.H2c : proxy.Client).GetAsync("/slow", timeout.Token);
        await upstream.Started.Task.WaitAsync(timeout.Token);
        authorizer.Open();
        using var response = await sending;

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("denied", await response.Content.ReadAsStringAsync(timeout.Token));
        await upstream.Aborted.Task.WaitAsync(timeout.Token);
        Assert.Contains("proxy_upstream_errors_total 0\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task A_close_from_a_callout_before_the_upstream_answers_resets_the_stream_and_counts_no_response_class(bool h2c, bool http1Forwarder)
    {
        await using var upstream = await HangingUpstream.StartAsync();
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.Address, authorizer.Address, http1Forwarder);
        using var timeout = new CancellationTokenSource(Patience);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/slow");
        request.Headers.Add("x-close", "1");
        if (h2c)
        {
            request.Version = HttpVersion.Version20;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        var sending = (h2c ? proxy.H2c : proxy.Client).SendAsync(request, timeout.Token);
        await upstream.Started.Task.WaitAsync(timeout.Token);
        authorizer.Open();

        await Assert.ThrowsAsync<HttpRequestException>(() => sending);
        await upstream.Aborted.Task.WaitAsync(timeout.Token);

        // A reset the proxy sent (Envoy's downstream_rq_tx_reset): no response class (the 503 the cut-short forwarding
        // set was never sent), and not the client's reset.
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains("proxy_plugin_resets_total 1\n", StringComparison.Ordinal), "the reset to be counted");
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_requests_total{code=\"5xx\"} 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_requests_total{code=\"2xx\"} 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_downstream_resets_total 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_upstream_errors_total 0\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_log_only_plugins_reply_from_a_callout_while_the_request_body_streams_is_counted_and_the_request_goes_on()
    {
        await using var upstream = await BodyWatcher.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("deny", Wat("reply_from_callout_while_streaming"), "deny", extra: "mode: LOG_ONLY")),
            o =>
            {
                o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
                o.ShardsPerPlugin = 1;
            });
        using var timeout = new CancellationTokenSource(Patience);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();

        await stream.WriteAsync("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"u8.ToArray(), timeout.Token);
        await upstream.SawHello.Task.WaitAsync(timeout.Token);
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains("wasm_plugin_log_only_actions_total{plugin=\"default/deny\",action=\"local_response\"} 1\n", StringComparison.Ordinal),
            "the callout's reply to be counted");
        await stream.WriteAsync("6\r\n world\r\n0\r\n\r\n"u8.ToArray(), timeout.Token);
        var answer = await StreamText.ReadUntilAsync(stream, "got hello world", timeout.Token);

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.False(upstream.Cut.Task.IsCompleted);
    }

    /// <summary>
    /// The reply ends the proxy's read of the client's body through Kestrel's reader, which leaves the rest drainable: the
    /// client sends the rest of its body and its next request on the same connection, which is answered as usual. A read
    /// of a Content-Length body ended through Kestrel's request stream was left "in progress": Kestrel's drain after the
    /// reply failed (logged as an error) and the connection was closed.
    /// </summary>
    /// <param name="bodyStarted">
    /// True: the callout answers once "hello" reached the upstream (the body streams); false: before any body byte came,
    /// while the proxy reads the body for the plugins.
    /// </param>
    [Theory]
    [InlineData(false, true)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task A_reply_from_a_callout_to_an_unfinished_upload_leaves_the_connection_to_the_clients_next_request(bool chunked, bool bodyStarted)
    {
        await using var upstream = await BodyWatcher.StartAsync();
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.Address, authorizer.Address, http1Forwarder: true, "reply_from_callout_when_checked");
        using var timeout = new CancellationTokenSource(Patience);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();

        var framing = chunked ? "Transfer-Encoding: chunked" : "Content-Length: 10";
        var first = chunked ? "5\r\nhello\r\n" : "hello";
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /up HTTP/1.1\r\nHost: a\r\nx-check: 1\r\n{framing}\r\n\r\n{(bodyStarted ? first : "")}"), timeout.Token);
        await (bodyStarted ? upstream.SawHello.Task : authorizer.Asked.Task).WaitAsync(timeout.Token);
        authorizer.Open();
        var answer = await StreamText.ReadUntilAsync(stream, "denied", timeout.Token);
        Assert.StartsWith("HTTP/1.1 403", answer, StringComparison.Ordinal);

        var rest = chunked ? "5\r\nworld\r\n0\r\n\r\n" : bodyStarted ? "world" : "helloworld";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(rest + "POST /next HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"), timeout.Token);
        var next = await StreamText.ReadUntilAsync(stream, "got abc", timeout.Token);

        Assert.StartsWith("HTTP/1.1 200", next, StringComparison.Ordinal);
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal));
    }

    /// <summary>
    /// A client still uploading a large Content-Length body when the reply comes gets the reply: Kestrel drains the rest
    /// behind it. With the body left mid-read, the proxy closed the connection under the upload, and the client's send
    /// failed (broken pipe, connection reset) before it read the 403. A few uploads: the stop interrupts a read only when
    /// the upload happens to stall as the callout answers (else the body's next step takes it), and what the client then
    /// sees depends on where its upload is when the connection closes.
    /// </summary>
    [Fact]
    public async Task A_client_still_uploading_a_large_body_when_a_callout_replies_gets_the_reply()
    {
        await using var upstream = await BodyWatcher.StartAsync();
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.Address, authorizer.Address, http1Forwarder: true, "reply_from_callout_when_checked");
        for (var i = 0; i < 6; i++)
        {
            using var timeout = new CancellationTokenSource(Patience);
            upstream.Renew();
            authorizer.Renew();
            const long size = 8L * 1024 * 1024;
            using var request = new HttpRequestMessage(HttpMethod.Post, "/big") { Content = new StreamContent(new Filler(size)) };
            request.Content.Headers.ContentLength = size;
            request.Headers.Add("x-check", "1");
            var sending = proxy.Client.SendAsync(request, timeout.Token);
            await upstream.SawHello.Task.WaitAsync(timeout.Token);
            authorizer.Open();
            using var response = await sending;

            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        Assert.DoesNotContain(proxy.Logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal));
    }

    /// <summary>
    /// Once its upgrade is relayed, a WebSocket is a stream YARP copies both ways (through the body callbacks, which this
    /// plugin does not have, so nothing waits on the plugin): a close
    /// from a callout's answer, or a reply (after the 101 it can only be a reset, as in Envoy), resets it at once
    /// (HTTP/1.1: the connection closes; h2c: RST_STREAM) while both ends stay quiet, and the proxy's WebSocket to the
    /// upstream is closed too. It had waited for either end to close it, or for the stream idle timeout (300 s here).
    /// </summary>
    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public async Task A_close_or_reply_from_a_callout_once_a_websocket_is_relayed_resets_it_and_closes_the_upstreams(bool h2c, bool close)
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartProxyAsync(echo.Address, authorizer.Address);
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        using var socket = await ConnectWebSocketAsync(proxy, invoker, h2c, close);
        Assert.Equal("first", await EchoAsync(socket, "first"));

        authorizer.Open();

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ReceiveAsync(new byte[64].AsMemory(), CancellationToken.None).AsTask().WaitAsync(Patience));
        await echo.Ended.Task.WaitAsync(Patience);

        // A reset the proxy sent: counted once as the plugin's, a close or a reply (after the 101 it can only reset, as
        // in Envoy's downstream_rq_tx_reset; before, a reply's reset was counted nowhere and logged nothing), neither as
        // the client's reset nor as an upstream failure, and its response class (the 101, or the 200 an h2c client's
        // extended CONNECT got) counted once the request is done.
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains(h2c ? "proxy_requests_total{code=\"2xx\"} 1\n" : "proxy_requests_total{code=\"1xx\"} 1\n", StringComparison.Ordinal),
            "the request to be done");
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_plugin_resets_total 1\n", metrics, StringComparison.Ordinal);
        Assert.Equal(close ? 0 : 1, proxy.Logs.Lines.Count(l => l.Contains("a plugin's local reply (403) came after the stream was upgraded, so the stream was reset", StringComparison.Ordinal)));
        Assert.Contains("proxy_downstream_resets_total 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_upstream_errors_total 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_stream_idle_timeouts_total 0\n", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("forwarding failed", StringComparison.Ordinal) || l.StartsWith("Error", StringComparison.Ordinal));
    }

    /// <summary>
    /// An upgrade whose upstream accepted the connection but has not answered it (no 101 yet) gets a reply from a
    /// callout's answer at once, or is reset by a close, and the upstream request is cancelled, as Envoy's
    /// sendLocalReply and resetStream do from any context. YARP forwarded it under a token no stop cancelled: the reply
    /// waited for the 101 or the upstream timeout (60 s here, past the test's patience).
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task A_reply_or_close_from_a_callout_while_an_upgrade_waits_for_its_101_reaches_the_client_and_cancels_the_upstream_request(bool h2c, bool close)
    {
        await using var upstream = await HangingUpstream.StartAsync();
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartProxyAsync(upstream.Address, authorizer.Address, upstreamTimeout: TimeSpan.FromSeconds(60));
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;

        var connecting = ConnectWebSocketAsync(proxy, invoker, h2c, close, socket);
        await upstream.Started.Task.WaitAsync(Patience);
        authorizer.Open();

        // Refused (the 403) or reset, well before the upstream timeout: not the test's patience running out.
        await Assert.ThrowsAsync<WebSocketException>(() => connecting);
        Assert.Equal(close ? 0 : (int)HttpStatusCode.Forbidden, (int)socket.HttpStatusCode);
        await upstream.Aborted.Task.WaitAsync(Patience);

        // A reply counts as its response class, a close once as the plugin's reset (with no response class); neither is
        // the client's reset nor an upstream failure.
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains(close ? "proxy_plugin_resets_total 1\n" : "proxy_requests_total{code=\"4xx\"} 1\n", StringComparison.Ordinal),
            "the request to be done");
        var metrics = await proxy.MetricsAsync();
        Assert.Contains($"proxy_requests_total{{code=\"4xx\"}} {(close ? 0 : 1)}\n", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_requests_total{code=\"5xx\"} 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains($"proxy_plugin_resets_total {(close ? 1 : 0)}\n", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_downstream_resets_total 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_upstream_errors_total 0\n", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("forwarding failed", StringComparison.Ordinal) || l.StartsWith("Error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_log_only_plugins_close_from_a_callout_once_a_websocket_is_relayed_is_counted_and_the_websocket_goes_on()
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("deny", Wat("reply_from_callout_while_streaming"), "deny", extra: "mode: LOG_ONLY")),
            o =>
            {
                o.Clusters[ProxyOptions.DefaultCluster] = echo.Address;
                o.Clusters["authz"] = authorizer.Address;
                o.ShardsPerPlugin = 1;
            });
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        using var socket = await ConnectWebSocketAsync(proxy, invoker, h2c: false, close: true);
        Assert.Equal("first", await EchoAsync(socket, "first"));

        authorizer.Open();
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains("wasm_plugin_log_only_actions_total{plugin=\"default/deny\",action=\"close_stream\"} 1\n", StringComparison.Ordinal),
            "the callout's close to be counted");

        Assert.Equal("second", await EchoAsync(socket, "second"));
        Assert.False(echo.Ended.Task.IsCompleted);
        Assert.Contains("proxy_plugin_resets_total 0\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(Patience);
    }

    /// <param name="http1Forwarder">False: a plain-HTTP request goes through YARP (as to a TLS cluster), the other forwarding path.</param>
    /// <param name="plugin">The fixture answering from the callout (reply_from_callout_when_checked: only requests with x-check).</param>
    /// <param name="upstreamTimeout">The proxy's upstream timeout; its default (100 s) when null.</param>
    private static Task<ProxyHarness> StartProxyAsync(Uri upstream, Uri authorizer, bool http1Forwarder = true, string plugin = "reply_from_callout_while_streaming",
        TimeSpan? upstreamTimeout = null) =>
        ProxyHarness.StartAsync(
            Yaml(Plugin("deny", Wat(plugin), "deny")),
            o =>
            {
                o.Clusters[ProxyOptions.DefaultCluster] = upstream;
                o.Clusters["authz"] = authorizer;
                o.ShardsPerPlugin = 1;
                o.Http1Forwarder = http1Forwarder;
                o.UpstreamTimeout = upstreamTimeout ?? o.UpstreamTimeout;
            });

    /// <summary>A gRPC call over h2c whose request body is <paramref name="content"/>; with x-close when <paramref name="close"/>.</summary>
    private static async Task<HttpResponseMessage> SendGrpcAsync(ProxyHarness proxy, PipeContent content, bool close, CancellationToken cancellationToken)
    {
        using var request = GrpcUpstream.Call("/test.Echo/Stream", content);
        if (close)
        {
            request.Headers.Add("x-close", "1");
        }

        return await proxy.H2c.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    /// <summary>
    /// A WebSocket to /ws through the proxy (h2c: extended CONNECT on the h2c listener, a stream of one connection of
    /// <paramref name="invoker"/>), with x-close when <paramref name="close"/>.
    /// </summary>
    private static async Task<ClientWebSocket> ConnectWebSocketAsync(ProxyHarness proxy, HttpMessageInvoker invoker, bool h2c, bool close)
    {
        var socket = new ClientWebSocket();
        await ConnectWebSocketAsync(proxy, invoker, h2c, close, socket);
        return socket;
    }

    /// <summary>Connects <paramref name="socket"/> as <see cref="ConnectWebSocketAsync(ProxyHarness, HttpMessageInvoker, bool, bool)"/> does.</summary>
    private static async Task ConnectWebSocketAsync(ProxyHarness proxy, HttpMessageInvoker invoker, bool h2c, bool close, ClientWebSocket socket)
    {
        if (h2c)
        {
            socket.Options.HttpVersion = HttpVersion.Version20;
            socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        if (close)
        {
            socket.Options.SetRequestHeader("x-close", "1");
        }

        var port = h2c ? proxy.Server.Options.H2cPort : proxy.Server.Options.Port;
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws"), invoker, CancellationToken.None).WaitAsync(Patience);
    }

    private static async Task<string> EchoAsync(ClientWebSocket socket, string message)
    {
        await socket.SendAsync(Encoding.UTF8.GetBytes(message).AsMemory(), WebSocketMessageType.Text, true, CancellationToken.None).AsTask().WaitAsync(Patience);
        var buffer = new byte[64];
        var received = await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask().WaitAsync(Patience);
        return Encoding.UTF8.GetString(buffer, 0, received.Count);
    }

    /// <summary>Reads until the peer closes or resets the connection; returns what came before (Latin-1).</summary>
    private static async Task<string> ReadUntilClosedAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                text.Append(Encoding.Latin1.GetString(buffer, 0, read));
            }
        }
        catch (IOException ex) when (ex.InnerException is SocketException)
        {
        }

        return text.ToString();
    }

    /// <summary>
    /// An upstream (HTTP/1.1 unless told otherwise) that reads each request body as it comes and answers "got &lt;body&gt;":
    /// <see cref="SawHello"/> once the body so far ends with "hello" (for /big, whose body it only counts: once any came),
    /// <see cref="Cut"/> when the proxy ended the request before its body's end.
    /// </summary>
    private sealed class BodyWatcher : IAsyncDisposable
    {
        private LoopbackApp? _app;
        private TaskCompletionSource _sawHello = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource SawHello => Volatile.Read(ref _sawHello);

        /// <summary>A new <see cref="SawHello"/>, for the next request.</summary>
        public void Renew() => Volatile.Write(ref _sawHello, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

        public TaskCompletionSource Cut { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Uri Address => _app!.Address;

        public static async Task<BodyWatcher> StartAsync(HttpProtocols protocols = HttpProtocols.Http1)
        {
            var watcher = new BodyWatcher();
            // No minimum body rate: Kestrel's would end a request whose body stalls after 5 s, and the proxy would then act
            // on the upstream's answer instead of on the callout's.
            watcher._app = await LoopbackApp.StartAsync(protocols, watcher.HandleAsync, k => k.Limits.MinRequestBodyDataRate = null);
            return watcher;
        }

        private async Task HandleAsync(HttpContext context)
        {
            var received = new StringBuilder();
            var buffer = new byte[1024];
            var big = context.Request.Path == "/big";
            try
            {
                int read;
                while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
                {
                    if (big)
                    {
                        SawHello.TrySetResult();
                        continue;
                    }

                    received.Append(Encoding.ASCII.GetString(buffer, 0, read));
                    if (received.ToString().EndsWith("hello", StringComparison.Ordinal))
                    {
                        SawHello.TrySetResult();
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                Cut.TrySetResult();
                return;
            }

            var answer = Encoding.ASCII.GetBytes("got " + received);
            context.Response.ContentLength = answer.Length;
            await context.Response.Body.WriteAsync(answer);
        }

        public ValueTask DisposeAsync() => _app?.DisposeAsync() ?? ValueTask.CompletedTask;
    }

    /// <summary>A request body of <c>size</c> bytes ("hello" repeated), made as it is read.</summary>
    /// <summary>
    /// A body of <paramref name="size"/> bytes whose upload pauses for 2 s half-way: the client is still uploading when the
    /// callout answers, however fast loopback moves the rest (without the pause the upload could end first, and the
    /// upstream answer 200).
    /// </summary>
    private sealed class Filler(long size) : Stream
    {
        private static readonly byte[] Block = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("hello", 16 * 1024 / 5)));
        private long _sent;
        private bool _paused;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!_paused && _sent >= size / 2)
            {
                _paused = true;
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            }

            return Read(buffer.Span);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(Math.Min(buffer.Length, Block.Length), size - _sent);
            Block.AsSpan(0, n).CopyTo(buffer);
            _sent += n;
            return n;
        }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => size;

        public override long Position { get => _sent; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
