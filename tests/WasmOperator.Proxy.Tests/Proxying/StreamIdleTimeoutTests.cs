using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// Streams that may rightly stay quiet for minutes (WebSockets, over an HTTP/1.1 Upgrade or an h2c extended CONNECT;
/// gRPC calls) are bounded by the stream idle timeout (Envoy's <c>stream_idle_timeout</c>), not by the upstream timeout
/// of an ordinary request, also while the proxy itself waits on a gRPC call's body because a plugin holds some of it.
/// Small timeouts here: upstream 1 s, stream idle 3 s.
/// </summary>
public sealed class StreamIdleTimeoutTests
{
    /// <summary>How long a step may take before the test calls it stuck (the failures these tests catch never end).</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static string Plugins(bool withPlugin) => withPlugin ? Yaml(Plugin("pass", Wat("pass_through"), "pass")) : "plugins: []\n";

    private static void ShortTimeouts(ProxyOptions options, Uri upstream)
    {
        options.Clusters[ProxyOptions.DefaultCluster] = upstream;
        options.UpstreamTimeout = TimeSpan.FromSeconds(1);
        options.StreamIdleTimeout = TimeSpan.FromSeconds(3);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task A_websocket_quiet_for_longer_than_the_upstream_timeout_stays_open(bool h2c, bool withPlugin)
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        // Longer than ShortTimeouts': the upgrade's 101 must come within the upstream timeout, and a busy CI machine once
        // took more than 1 s for the upstream's first WebSocket answer (504).
        await using var proxy = await ProxyHarness.StartAsync(Plugins(withPlugin), o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = echo.Address;
            o.UpstreamTimeout = TimeSpan.FromSeconds(2.5);
            o.StreamIdleTimeout = TimeSpan.FromSeconds(10);
        });
        using var invoker = NewInvoker();
        using var socket = await ConnectAsync(proxy, invoker, h2c);
        Assert.Equal("first", await EchoAsync(socket, "first"));

        // Quiet for twice the upstream timeout, within the stream idle timeout.
        await Task.Delay(TimeSpan.FromSeconds(5));

        Assert.Equal("second", await EchoAsync(socket, "second"));
    }

    /// <param name="withPlugin">Through a plugin the exchange's stream idle timer ends it, not YARP's activity timer.</param>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task A_websocket_quiet_for_longer_than_the_stream_idle_timeout_is_closed_both_ways(bool h2c, bool withPlugin)
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(Plugins(withPlugin), o =>
        {
            ShortTimeouts(o, echo.Address);
            // The 101 must come within the upstream timeout: 1 s is short for a loaded machine's first answer (the test
            // above once failed so).
            o.UpstreamTimeout = TimeSpan.FromSeconds(2.5);
        });
        using var invoker = NewInvoker();
        using var socket = await ConnectAsync(proxy, invoker, h2c);
        Assert.Equal("first", await EchoAsync(socket, "first"));

        await Assert.ThrowsAsync<WebSocketException>(async () => await socket.ReceiveAsync(new byte[64].AsMemory(), CancellationToken.None).AsTask().WaitAsync(Patience));
        await echo.Ended.Task.WaitAsync(Patience);

        // Counted and logged as what it is (Envoy's downstream_rq_idle_timeout), not as an upstream failure.
        await ProxyHarness.EventuallyAsync(async () => (await proxy.MetricsAsync()).Contains("proxy_stream_idle_timeouts_total 1", StringComparison.Ordinal), "the timeout to be counted");
        Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("stream idle timeout", StringComparison.Ordinal) && l.Contains("/ws (route default, cluster upstream)", StringComparison.Ordinal));
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("forwarding failed", StringComparison.Ordinal));
    }

    /// <summary>
    /// Envoy's stream idle timer starts over on bytes either way, those a plugin holds too: a WebSocket whose client sends
    /// a message every half second, each held by a plugin (nothing reaches the upstream, nothing comes back), is not idle.
    /// It was closed at the first stream idle timeout: YARP's timer, which timed it, sees only what leaves the plugins.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_websocket_whose_messages_a_plugin_holds_stays_open_while_the_client_keeps_sending(bool h2c)
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("hold", Wat("websocket_hold"), "hold", config: "m")), o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = echo.Address;
            o.UpstreamTimeout = TimeSpan.FromSeconds(2.5);
            // Far above the client's half second between messages: with 2 s, a loaded CI machine that stalled the
            // sending test for over 1.5 s closed the stream as idle, rightly (1 full-suite run of 2 under load).
            o.StreamIdleTimeout = TimeSpan.FromSeconds(4);
            o.ShardsPerPlugin = 1;
        });
        using var invoker = NewInvoker();
        using var socket = await ConnectAsync(proxy, invoker, h2c);

        // One and a half stream idle timeouts of the client's messages, all held (timed by what left the plugins, the
        // stream was closed within the first); the long one at the end lets them go on.
        List<string> sent = [];
        for (var i = 0; i < 12; i++)
        {
            sent.Add($"m{i}");
            await SendAsync(socket, sent[^1]);
            await Task.Delay(TimeSpan.FromMilliseconds(500));
        }

        sent.Add(new string('z', 300));
        await SendAsync(socket, sent[^1]);

        foreach (var message in sent)
        {
            Assert.Equal(message, await ReceiveAsync(socket));
        }

        Assert.Equal(sent, echo.Received);
        Assert.Contains("proxy_stream_idle_timeouts_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    /// <param name="withPlugin">Through a plugin YARP forwards the upgrade under a token a plugin's stop cancels, not a timer.</param>
    /// <summary>
    /// An upgrade the upstream answers with a plain 200 whose body then stalls: no upgraded stream follows, but the body's
    /// copy must still end at the stream idle timeout, as Envoy's stream_idle_timeout ends it (and as YARP's activity
    /// timer ends it without plugins). Through plugins, whose exchange times upgrades itself, it had no timer at all.
    /// </summary>
    /// <param name="bodyStarts">
    /// False: the answer's head came, its body never starts, so the client has been sent nothing (the head goes with the
    /// first bytes): Envoy's 504 "stream timeout". Without plugins it was YARP's bare 502, logged as a reset.
    /// </param>
    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public Task An_upgrade_answered_with_a_body_that_stalls_is_ended_at_the_stream_idle_timeout(bool withPlugin, bool bodyStarts) =>
        UpgradeAnsweredWithAStallingBodyAsync(withPlugin, bodyStarts, wrap: null);

    /// <summary>
    /// Once the response started, YARP aborts the client's connection itself, and Kestrel cancels RequestAborted for that
    /// on a thread-pool thread, usually after the proxy classified the failure. Here the cancellation always comes first
    /// (each abort waits for it), as it did now and then under load: the stream idle timeout must still not read as the
    /// client's reset.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public Task A_stalled_upgrade_body_is_counted_at_the_stream_idle_timeout_when_Kestrel_cancels_the_request_first(bool bodyStarts) =>
        UpgradeAnsweredWithAStallingBodyAsync(withPlugin: false, bodyStarts, wrap: PromptAbortCancellation.Wrap);

    private static async Task UpgradeAnsweredWithAStallingBodyAsync(bool withPlugin, bool bodyStarts, Func<RequestDelegate, RequestDelegate>? wrap)
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = new RawUpstream(async (_, stream) =>
        {
            await stream.WriteAsync(bodyStarts ? "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"u8.ToArray() : "HTTP/1.1 404 Not Found\r\nContent-Length: 100\r\n\r\n"u8.ToArray());
            // The rest never comes; the read ends when the proxy lets the connection go.
            await RawUpstream.ReadUntilClosedAsync(stream);
            closed.TrySetResult();
            return false;
        });
        await using var proxy = await ProxyHarness.StartAsync(Plugins(withPlugin), o =>
        {
            ShortTimeouts(o, upstream.Address);
            // Far beyond the test's patience: only the stream idle timeout (3 s) can end the stall.
            o.UpstreamTimeout = TimeSpan.FromMinutes(5);
            o.WrapRequests = wrap;
        });

        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var wire = client.GetStream();
        await wire.WriteAsync(Encoding.ASCII.GetBytes("GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
        var received = new StringBuilder();
        var buffer = new byte[1024];
        await Task.Run(async () =>
        {
            try
            {
                int read;
                // Until the proxy closes or resets the connection, or its 504 is whole (the connection stays open then).
                while (!received.ToString().EndsWith("stream timeout", StringComparison.Ordinal) && (read = await wire.ReadAsync(buffer)) > 0)
                {
                    received.Append(Encoding.Latin1.GetString(buffer, 0, read));
                }
            }
            catch (IOException)
            {
                // Reset: the response had started.
            }
        }).WaitAsync(Patience);

        if (bodyStarts)
        {
            Assert.StartsWith("HTTP/1.1 200", received.ToString(), StringComparison.Ordinal);
            Assert.EndsWith("abc", received.ToString(), StringComparison.Ordinal);
        }
        else
        {
            Assert.StartsWith("HTTP/1.1 504", received.ToString(), StringComparison.Ordinal);
            Assert.Contains("stream timeout", received.ToString(), StringComparison.Ordinal);
        }

        await closed.Task.WaitAsync(Patience);
        await ProxyHarness.EventuallyAsync(async () => (await proxy.MetricsAsync()).Contains("proxy_stream_idle_timeouts_total 1", StringComparison.Ordinal), "the timeout to be counted");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task A_websocket_upgrade_the_upstream_never_answers_gets_a_504_after_the_upstream_timeout(bool h2c, bool withPlugin)
    {
        await using var hanging = await HangingUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(Plugins(withPlugin), o =>
        {
            ShortTimeouts(o, hanging.Address);
            // Far beyond the test's patience: only the upstream timeout can end the wait.
            o.StreamIdleTimeout = TimeSpan.FromMinutes(5);
        });
        using var socket = NewSocket(h2c);
        socket.Options.CollectHttpResponseDetails = true;

        using var invoker = NewInvoker();

        await Assert.ThrowsAsync<WebSocketException>(() => ConnectAsync(proxy, invoker, socket, h2c).WaitAsync(Patience));

        Assert.Equal(HttpStatusCode.GatewayTimeout, socket.HttpStatusCode);
        await hanging.Aborted.Task.WaitAsync(Patience);
    }

    /// <param name="forwarded">
    /// False: the call's first message is here when the plugins are done with its headers (a plugin paused them a
    /// little), so the proxy reads the body itself and forwards nothing yet. True: the call went upstream as soon as its
    /// headers passed (a client sends them first) and the message came after; the upstream never answers.
    /// </param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_grpc_call_whose_body_a_plugin_holds_is_ended_as_envoy_ends_it_when_the_client_stays_quiet(bool forwarded)
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(HoldingPlugins(forwarded), o =>
        {
            ShortTimeouts(o, grpc.Address);
            o.Clusters["grpc"] = grpc.Address;
            o.Routes.Add(new RouteOption("/test.Echo", "grpc"));
        });
        var content = new PipeContent();
        using var request = GrpcUpstream.Call(forwarded ? "/test.Echo/Slow" : "/test.Echo/Chat", content);
        if (!forwarded)
        {
            await content.Writer.WriteAsync(GrpcUpstream.Frame("first"));
        }

        var call = proxy.H2c.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (forwarded)
        {
            await grpc.SlowStarted.Task.WaitAsync(Patience);
            await content.Writer.WriteAsync(GrpcUpstream.Frame("first"));
        }

        // The plugin holds the first message until the body ends; the client sends nothing more.
        using var response = await call.WaitAsync(Patience);

        // Envoy's local reply on stream_idle_timeout while the request is still coming: 408 "stream timeout", to a gRPC
        // client a trailers-only answer with the status Envoy maps 408 to (2, Unknown).
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("2", response.Headers.GetValues("grpc-status").Single());
        Assert.Equal("stream timeout", Uri.UnescapeDataString(response.Headers.GetValues("grpc-message").Single()));
        if (forwarded)
        {
            await grpc.SlowCancelled.Task.WaitAsync(Patience);
        }
        else
        {
            Assert.Empty(grpc.Calls);
        }

        // The plugin's stream context is released, and it read why the stream ended.
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream on_delete")), "the stream context to be deleted");
        Assert.True(proxy.Logs.Contains("stream on_done"));
        Assert.True(proxy.Logs.Contains("code_details=stream_idle_timeout"), string.Join(" | ", proxy.Logs.Lines));
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_stream_idle_timeouts_total 1", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_downstream_resets_total 0", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("stream idle timeout", StringComparison.Ordinal));
        Assert.Contains(proxy.Logs.Lines, l => l.Contains("stream idle timeout: POST /test.Echo/", StringComparison.Ordinal) &&
            l.Contains("(route /test.Echo, cluster grpc)", StringComparison.Ordinal) && l.Contains("answered 408", StringComparison.Ordinal));

        // Only the call ended: the client's connection serves the next one.
        var next = new PipeContent();
        using var nextRequest = GrpcUpstream.Call("/test.Echo/Chat", next);
        await next.Writer.WriteAsync(GrpcUpstream.Frame("again"));
        await next.Writer.CompleteAsync();
        using var nextResponse = await proxy.H2c.SendAsync(nextRequest).WaitAsync(Patience);
        Assert.Equal(["echo:again"], GrpcUpstream.Messages(await nextResponse.Content.ReadAsByteArrayAsync()));
        Assert.Equal("0", nextResponse.TrailingHeaders.GetValues("grpc-status").Single());
    }

    /// <param name="forwarded">As above: the proxy reads the held body before forwarding anything, or while the call is upstream.</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_grpc_call_whose_body_a_plugin_holds_goes_on_while_each_message_comes_within_the_stream_idle_timeout(bool forwarded)
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(HoldingPlugins(forwarded), o => ShortTimeouts(o, grpc.Address));
        var content = new PipeContent();
        using var request = GrpcUpstream.Call("/test.Echo/Chat", content);
        if (!forwarded)
        {
            await content.Writer.WriteAsync(GrpcUpstream.Frame("m0"));
        }

        var call = proxy.H2c.SendAsync(request);
        if (forwarded)
        {
            await ProxyHarness.EventuallyAsync(() => Task.FromResult(!grpc.Calls.IsEmpty), "the call to go upstream");
            await content.Writer.WriteAsync(GrpcUpstream.Frame("m0"));
        }

        // Four more messages a second apart: longer than the stream idle timeout in all, never that long without a byte,
        // though the plugin holds every one of them (none reaches the upstream before the body ends).
        for (var i = 1; i <= 4; i++)
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            await content.Writer.WriteAsync(GrpcUpstream.Frame("m" + i));
        }

        await content.Writer.CompleteAsync();
        using var response = await call.WaitAsync(Patience);

        Assert.Equal(["echo:m0", "echo:m1", "echo:m2", "echo:m3", "echo:m4"], GrpcUpstream.Messages(await response.Content.ReadAsByteArrayAsync()));
        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Contains("proxy_stream_idle_timeouts_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_grpc_call_whose_body_a_plugin_holds_is_reset_both_ways_when_the_client_stays_quiet_after_the_response_started()
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(HoldingPlugins(forwarded: true), o => ShortTimeouts(o, grpc.Address));
        var content = new PipeContent();
        using var request = GrpcUpstream.Call("/test.Echo/Chat", content);

        // The upstream sends its headers at once; the message the client sends then is held by the plugin.
        using var response = await proxy.H2c.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Patience);
        await content.Writer.WriteAsync(GrpcUpstream.Frame("first"));
        var body = await response.Content.ReadAsStreamAsync();

        // Envoy resets a stream whose response started when it goes idle.
        await Assert.ThrowsAnyAsync<IOException>(async () => await body.ReadAsync(new byte[1]).AsTask().WaitAsync(Patience));
        await grpc.Reset.Task.WaitAsync(Patience);
        await ProxyHarness.EventuallyAsync(async () => (await proxy.MetricsAsync()).Contains("proxy_stream_idle_timeouts_total 1", StringComparison.Ordinal), "the timeout to be counted");
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_downstream_resets_total 0", metrics, StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("stream idle timeout: POST /test.Echo/Chat", StringComparison.Ordinal) && l.EndsWith("stream reset", StringComparison.Ordinal));
    }

    /// <param name="throughPlugin">True: a plugin holds the body (the exchange times the call); false: no plugin (YARP's activity timer does).</param>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_whole_grpc_call_whose_answer_never_comes_gets_envoys_504_for_a_complete_request(bool throughPlugin)
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(throughPlugin ? HoldingPlugins(forwarded: true) : Plugins(false), o => ShortTimeouts(o, grpc.Address));
        var content = new PipeContent();
        using var request = GrpcUpstream.Call("/test.Echo/Slow", content);
        await content.Writer.WriteAsync(GrpcUpstream.Frame("ping"));
        await content.Writer.CompleteAsync();

        using var response = await proxy.H2c.SendAsync(request).WaitAsync(Patience);

        // The client sent all it had: Envoy answers 504 (gRPC 14, Unavailable) instead of 408.
        Assert.Equal("14", response.Headers.GetValues("grpc-status").Single());
        Assert.Equal("stream timeout", Uri.UnescapeDataString(response.Headers.GetValues("grpc-message").Single()));
        await grpc.SlowCancelled.Task.WaitAsync(Patience);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_stream_idle_timeouts_total 1", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
        Assert.Contains(proxy.Logs.Lines, l => l.Contains("stream idle timeout: POST /test.Echo/Slow", StringComparison.Ordinal) && l.EndsWith("answered 504 stream timeout", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_grpc_call_without_plugins_whose_client_stays_quiet_before_any_answer_gets_envoys_408()
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(Plugins(false), o => ShortTimeouts(o, grpc.Address));
        var content = new PipeContent();
        using var request = GrpcUpstream.Call("/test.Echo/Slow", content);
        await content.Writer.WriteAsync(GrpcUpstream.Frame("ping"));

        // The client keeps its side open and sends nothing more; the upstream never answers.
        using var response = await proxy.H2c.SendAsync(request).WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("2", response.Headers.GetValues("grpc-status").Single());
        Assert.Equal("stream timeout", Uri.UnescapeDataString(response.Headers.GetValues("grpc-message").Single()));
        await grpc.SlowCancelled.Task.WaitAsync(Patience);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_stream_idle_timeouts_total 1", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_downstream_resets_total 0", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
        Assert.Contains(proxy.Logs.Lines, l => l.Contains("stream idle timeout: POST /test.Echo/Slow", StringComparison.Ordinal) && l.EndsWith("answered 408 stream timeout", StringComparison.Ordinal));
    }

    /// <summary>A plugin holding the request body until its end; before it, unless <paramref name="forwarded"/>, one pausing the headers a little.</summary>
    private static string HoldingPlugins(bool forwarded)
    {
        var hold = Plugin("hold", Wat("hold_request_body"), "hold");
        return forwarded ? Yaml(hold) : Yaml(Plugin("pause", Wat("pause_headers_until_tick"), "pause"), hold);
    }

    private static ClientWebSocket NewSocket(bool h2c)
    {
        var socket = new ClientWebSocket();
        if (h2c)
        {
            socket.Options.HttpVersion = HttpVersion.Version20;
            socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        return socket;
    }

    /// <summary>The client's connections: an h2c WebSocket is a stream of one, so it lives as long as the socket.</summary>
    private static HttpMessageInvoker NewInvoker() => new(new SocketsHttpHandler { UseProxy = false });

    private static async Task<ClientWebSocket> ConnectAsync(ProxyHarness proxy, HttpMessageInvoker invoker, bool h2c)
    {
        var socket = NewSocket(h2c);
        await ConnectAsync(proxy, invoker, socket, h2c).WaitAsync(Patience);
        return socket;
    }

    private static Task ConnectAsync(ProxyHarness proxy, HttpMessageInvoker invoker, ClientWebSocket socket, bool h2c)
    {
        var port = h2c ? proxy.Server.Options.H2cPort : proxy.Server.Options.Port;
        return socket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws"), invoker, CancellationToken.None);
    }

    private static async Task<string> EchoAsync(ClientWebSocket socket, string message)
    {
        await SendAsync(socket, message);
        return await ReceiveAsync(socket);
    }

    private static Task SendAsync(ClientWebSocket socket, string message) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(message).AsMemory(), WebSocketMessageType.Text, true, CancellationToken.None).AsTask().WaitAsync(Patience);

    /// <summary>One whole text message.</summary>
    private static async Task<string> ReceiveAsync(ClientWebSocket socket)
    {
        var buffer = new byte[1024];
        var count = 0;
        ValueWebSocketReceiveResult received;
        do
        {
            received = await socket.ReceiveAsync(buffer.AsMemory(count), CancellationToken.None).AsTask().WaitAsync(Patience);
            count += received.Count;
        }
        while (!received.EndOfMessage);

        return Encoding.UTF8.GetString(buffer, 0, count);
    }

    /// <summary>A request lifetime whose abort returns only once Kestrel has cancelled RequestAborted (off the request's thread).</summary>
    private sealed class PromptAbortCancellation(IHttpRequestLifetimeFeature inner) : IHttpRequestLifetimeFeature
    {
        public static RequestDelegate Wrap(RequestDelegate next) => context =>
        {
            context.Features.Set<IHttpRequestLifetimeFeature>(new PromptAbortCancellation(context.Features.Get<IHttpRequestLifetimeFeature>()!));
            return next(context);
        };

        public CancellationToken RequestAborted
        {
            get => inner.RequestAborted;
            set => inner.RequestAborted = value;
        }

        public void Abort()
        {
            inner.Abort();
            Assert.True(SpinWait.SpinUntil(() => inner.RequestAborted.IsCancellationRequested, Patience), "Kestrel did not cancel RequestAborted after the abort");
        }
    }
}
