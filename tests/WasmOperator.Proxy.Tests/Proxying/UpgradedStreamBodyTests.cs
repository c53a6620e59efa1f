using System.Net;
using System.Net.WebSockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// An upgraded stream's bytes (here a WebSocket, over HTTP/1.1 and h2c's extended CONNECT) go through the plugins' body
/// callbacks once the upstream's 101 is let through, as Envoy passes an upgrade's payload through its filter chain: the
/// client's as the request body, the upstream's as the response body, each chunk as it comes. Before, YARP relayed them
/// without the plugins, which saw no frame. The body_callbacks fixture logs each callback ("Q ctx size eos").
/// </summary>
public sealed class UpgradedStreamBodyTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>
    /// An h2c extended CONNECT (a WebSocket) whose upstream answers 200 with a body, not 101: a 502, logged as the
    /// upstream's invalid response (UPE) in one line, through plugins as without them. Through plugins it was a 500
    /// "internal error" with a stack trace (Kestrel refuses a body on a CONNECT's 2xx); without them a 502 nothing logged.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_websocket_over_h2c_whose_upstream_answers_200_instead_of_101_gets_502(bool plugins)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
        await using var proxy = await ProxyHarness.StartAsync(
            plugins ? Yaml(Plugin("pass", Wat("pass_through"), "pass")) : "plugins: []\n",
            o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.HttpVersion = HttpVersion.Version20;
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(new Uri($"ws://127.0.0.1:{proxy.Server.Options.H2cPort}/ws"), invoker, CancellationToken.None).WaitAsync(Patience));

        Assert.Equal(HttpStatusCode.BadGateway, socket.HttpStatusCode);
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains("proxy_requests_total{code=\"5xx\"} 1\n", StringComparison.Ordinal), "the request to be done");
        Assert.Single(proxy.Logs.Lines, l => l.Contains("CONNECT /ws", StringComparison.Ordinal) && l.Contains("invalid upstream response (UPE): the upstream answered the WebSocket upgrade of an extended CONNECT with 200, not 101; answered 502", StringComparison.Ordinal));
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("unexpected failure", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_plugin_rewrites_each_websocket_message_the_client_sends_and_sees_each_side_end(bool h2c)
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var proxy = await StartAsync(echo, Plugin("upper", Wat("websocket_upper"), "upper", config: "q"), Plugin("log", Wat("body_callbacks"), "log"));
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        using var socket = await ConnectAsync(proxy, invoker, h2c);

        Assert.Equal("HELLO", await EchoAsync(socket, "hello"));
        Assert.Equal("AGAIN 2", await EchoAsync(socket, "again 2"));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(["HELLO", "AGAIN 2"], echo.Received);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("wasm log default/log: L ")), "on_log");
        // Each message's frame as a chunk of its own (the client's frames are masked: 6 bytes of header), then the end of
        // either side: the upstream closed after the close handshake, which ended the client's side too.
        var callbacks = Callbacks(proxy);
        Assert.Contains("Q 11 0", callbacks);
        Assert.Contains("Q 13 0", callbacks);
        Assert.Contains(callbacks, c => c.StartsWith('Q') && c.EndsWith(" 1", StringComparison.Ordinal));
        Assert.Contains(callbacks, c => c.StartsWith('S') && c.EndsWith(" 1", StringComparison.Ordinal));
        Assert.Contains("proxy_plugin_resets_total 0\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_plugin_rewrites_each_websocket_message_the_upstream_sends(bool h2c)
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var proxy = await StartAsync(echo, Plugin("upper", Wat("websocket_upper"), "upper", config: "s"));
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        using var socket = await ConnectAsync(proxy, invoker, h2c);

        Assert.Equal("HELLO", await EchoAsync(socket, "hello"));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(["hello"], echo.Received);
    }

    /// <summary>A chunk a plugin holds (StopIterationAndBuffer) goes on when it resumes from on_tick, not before.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_websocket_message_a_plugin_holds_goes_on_when_it_resumes_from_a_tick(bool h2c)
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var proxy = await StartAsync(echo, Plugin("hold", Wat("websocket_hold"), "hold", config: "t"));
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        using var socket = await ConnectAsync(proxy, invoker, h2c);

        Assert.Equal("one", await EchoAsync(socket, "one"));

        List<string> lines = [.. proxy.Logs.Lines];
        var held = lines.FindIndex(l => l.Contains("wasm log default/hold: held", StringComparison.Ordinal));
        var resumed = lines.FindIndex(l => l.Contains("wasm log default/hold: resumed", StringComparison.Ordinal));
        Assert.True(held >= 0 && resumed > held, string.Join(" | ", lines));
        Assert.Equal("two", await EchoAsync(socket, "two"));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(Patience);
    }

    /// <summary>A chunk a plugin holds goes on with the next one, when that chunk's callback continues.</summary>
    [Fact]
    public async Task A_websocket_message_a_plugin_holds_goes_on_with_the_next_message_when_its_callback_continues()
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var proxy = await StartAsync(echo, Plugin("hold", Wat("websocket_hold"), "hold", config: "n"));
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        using var socket = await ConnectAsync(proxy, invoker, h2c: false);

        await SendAsync(socket, "one");
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("wasm log default/hold: held")), "the plugin to hold the message");
        // The plugin's callback returned StopIterationAndBuffer: the message cannot have gone upstream.
        Assert.Empty(echo.Received);

        await SendAsync(socket, "two");

        Assert.Equal("one", await ReceiveAsync(socket));
        Assert.Equal("two", await ReceiveAsync(socket));
        Assert.Equal(["one", "two"], echo.Received);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(Patience);
    }

    /// <summary>A plugin holding more of a WebSocket than the body buffer limit resets the stream; nothing of it went upstream.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_plugin_holding_more_of_a_websocket_than_the_buffer_limit_resets_it(bool h2c)
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var proxy = await StartAsync(echo, [Plugin("hold", Wat("websocket_hold"), "hold", config: "a")], maxBufferedBodyBytes: 64);
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        using var socket = await ConnectAsync(proxy, invoker, h2c);

        await SendAsync(socket, new string('x', 50));
        await SendAsync(socket, new string('y', 50));

        await Assert.ThrowsAsync<WebSocketException>(() => ReceiveAsync(socket));
        await echo.Ended.Task.WaitAsync(Patience);
        Assert.Empty(echo.Received);
        // Said once, as Envoy counts rq_too_large, not a bare reset.
        const string Line = "/ws: the plugins held more than --max-body-bytes (64) of the upgraded stream; the stream was reset";
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains(Line)), "the reset to be logged");
        Assert.Single(proxy.Logs.Lines, l => l.Contains("request_payload_too_large: ", StringComparison.Ordinal) && l.Contains(Line, StringComparison.Ordinal));
    }

    /// <summary>A plugin trapping on a WebSocket message fails as on a body: FAIL_CLOSE resets the stream, FAIL_OPEN lets it go on.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_plugin_trapping_on_a_websocket_message_fails_open_or_closed_by_its_strategy(bool open)
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var proxy = await StartAsync(echo,
            Plugin("trap", Wat("websocket_hold"), "trap", config: "x", extra: open ? "failStrategy: FAIL_OPEN" : "failStrategy: FAIL_CLOSE"));
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        using var socket = await ConnectAsync(proxy, invoker, h2c: false);

        if (open)
        {
            Assert.Equal("one", await EchoAsync(socket, "one"));
            Assert.Equal("two", await EchoAsync(socket, "two"));
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(Patience);
            Assert.Equal(["one", "two"], echo.Received);
        }
        else
        {
            await SendAsync(socket, "one");
            await Assert.ThrowsAsync<WebSocketException>(() => ReceiveAsync(socket));
            await echo.Ended.Task.WaitAsync(Patience);
            Assert.Empty(echo.Received);
        }

        Assert.Contains("wasm_plugin_traps_total{plugin=\"default/trap\"} 1\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_log_only_plugins_rewrite_of_a_websocket_message_is_counted_and_not_applied()
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var proxy = await StartAsync(echo, Plugin("upper", Wat("websocket_upper"), "upper", config: "q", extra: "mode: LOG_ONLY"));
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        using var socket = await ConnectAsync(proxy, invoker, h2c: false);

        Assert.Equal("hello", await EchoAsync(socket, "hello"));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(["hello"], echo.Received);
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains("wasm_plugin_log_only_actions_total{plugin=\"default/upper\",action=\"body_mutation\"} 1\n", StringComparison.Ordinal),
            "the rewrite to be counted");
    }

    /// <summary>An AssemblyScript SDK plugin (the add_header example) on a WebSocket whose frames go through the chain.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_add_header_example_still_adds_its_header_to_a_websocket_whose_messages_go_through_the_chain(bool h2c)
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var proxy = await StartAsync(echo, Plugin("add", Example("add_header"), "add_header"), Plugin("log", Wat("body_callbacks"), "log"));
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        using var socket = await ConnectAsync(proxy, invoker, h2c);

        Assert.NotNull(socket.HttpResponseHeaders);
        Assert.Equal("world!", Assert.Single(socket.HttpResponseHeaders["hello"]));
        Assert.Equal("hello", await EchoAsync(socket, "hello"));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(Patience);

        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("wasm log default/log: L ")), "on_log");
        Assert.Contains("Q 11 0", Callbacks(proxy));
        Assert.Equal(["hello"], echo.Received);
    }

    private static Task<ProxyHarness> StartAsync(WebSocketUpstream echo, params string[] plugins) => StartAsync(echo, plugins, maxBufferedBodyBytes: null);

    private static Task<ProxyHarness> StartAsync(WebSocketUpstream echo, string[] plugins, int? maxBufferedBodyBytes) =>
        ProxyHarness.StartAsync(Yaml(plugins), o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = echo.Address;
            o.ShardsPerPlugin = 1;
            o.MaxBufferedBodyBytes = maxBufferedBodyBytes ?? o.MaxBufferedBodyBytes;
        });

    /// <summary>The body_callbacks fixture's body callbacks as "Q|S size eos", in order.</summary>
    private static List<string> Callbacks(ProxyHarness proxy) =>
        [.. proxy.Logs.Lines.Where(l => l.Contains("wasm log default/log: Q ", StringComparison.Ordinal) || l.Contains("wasm log default/log: S ", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf("default/log: ", StringComparison.Ordinal) + 13)..].Split(' ') is var f ? $"{f[0]} {f[2]} {f[3]}" : "")];

    /// <summary>A WebSocket to /ws through the proxy (h2c: extended CONNECT on the h2c listener).</summary>
    private static async Task<ClientWebSocket> ConnectAsync(ProxyHarness proxy, HttpMessageInvoker invoker, bool h2c)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (h2c)
        {
            socket.Options.HttpVersion = HttpVersion.Version20;
            socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        var port = h2c ? proxy.Server.Options.H2cPort : proxy.Server.Options.Port;
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws"), invoker, CancellationToken.None).WaitAsync(Patience);
        return socket;
    }

    private static Task SendAsync(ClientWebSocket socket, string message) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(message).AsMemory(), WebSocketMessageType.Text, true, CancellationToken.None).AsTask().WaitAsync(Patience);

    private static async Task<string> ReceiveAsync(ClientWebSocket socket)
    {
        var buffer = new byte[64];
        var received = await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask().WaitAsync(Patience);
        return Encoding.UTF8.GetString(buffer, 0, received.Count);
    }

    private static async Task<string> EchoAsync(ClientWebSocket socket, string message)
    {
        await SendAsync(socket, message);
        return await ReceiveAsync(socket);
    }
}
