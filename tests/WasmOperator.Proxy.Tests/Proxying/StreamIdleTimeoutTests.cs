using System.Net;
using System.Net.WebSockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// Streams that may rightly stay quiet for minutes (WebSockets, over an HTTP/1.1 Upgrade or an h2c extended CONNECT)
/// are bounded by the stream idle timeout (Envoy's <c>stream_idle_timeout</c>), not by the upstream timeout of an
/// ordinary request. Small timeouts here: upstream 1 s, stream idle 3 s.
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
        await using var proxy = await ProxyHarness.StartAsync(Plugins(withPlugin), o => ShortTimeouts(o, echo.Address));
        using var invoker = NewInvoker();
        using var socket = await ConnectAsync(proxy, invoker, h2c);
        Assert.Equal("first", await EchoAsync(socket, "first"));

        // Quiet for twice the upstream timeout, within the stream idle timeout.
        await Task.Delay(TimeSpan.FromSeconds(2));

        Assert.Equal("second", await EchoAsync(socket, "second"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_websocket_quiet_for_longer_than_the_stream_idle_timeout_is_closed_both_ways(bool h2c)
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(Plugins(false), o => ShortTimeouts(o, echo.Address));
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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_websocket_upgrade_the_upstream_never_answers_gets_a_504_after_the_upstream_timeout(bool h2c)
    {
        await using var hanging = await HangingUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(Plugins(false), o =>
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
        await socket.SendAsync(Encoding.UTF8.GetBytes(message).AsMemory(), WebSocketMessageType.Text, true, CancellationToken.None).AsTask().WaitAsync(Patience);
        var buffer = new byte[64];
        var received = await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask().WaitAsync(Patience);
        return Encoding.UTF8.GetString(buffer, 0, received.Count);
    }
}
