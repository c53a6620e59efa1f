using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A body that comes after its headers, slowly or never: a plugin deciding on the body still decides first, an
/// upstream that answers early cannot take its place, and a client that stalls is ended. Plus an HTTP/2 stream
/// that is no response stream (a WebSocket over extended CONNECT) through the path no plugin selects.
/// </summary>
public sealed class LateBodyTests
{
    private const string Body = "no, thanks";

    [Fact]
    public async Task A_body_authorizer_refuses_a_late_body_before_the_upstream_sees_the_request()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", Wat("body_authz"), "authz")));
        using var client = await ConnectAsync(proxy);
        var stream = client.GetStream();

        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /orders HTTP/1.1\r\nHost: a\r\nContent-Length: {Body.Length}\r\nConnection: close\r\n\r\n"));
        await Task.Delay(300);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(Body));
        var reply = await ReadToEndAsync(stream);

        Assert.StartsWith("HTTP/1.1 403", reply, StringComparison.Ordinal);
        Assert.Equal(1, proxy.Authorizer.Requests);
        Assert.Equal(0, proxy.Upstream.Requests);
    }

    [Fact]
    public async Task An_upstream_that_answers_on_the_head_alone_cannot_take_the_place_of_a_body_authorizers_refusal()
    {
        // Answers a complete 200 as soon as it has a request head, without reading any body.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var answered = AnswerOnHeadAsync(listener, "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nsecret-token");
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", Wat("body_authz"), "authz")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = new Uri($"http://{listener.LocalEndpoint}"));
        using var client = await ConnectAsync(proxy);
        var stream = client.GetStream();

        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /orders HTTP/1.1\r\nHost: a\r\nContent-Length: {Body.Length}\r\nConnection: close\r\n\r\n"));
        await Task.Delay(300);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(Body));
        var reply = await ReadToEndAsync(stream);

        Assert.StartsWith("HTTP/1.1 403", reply, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-token", reply, StringComparison.Ordinal);
        Assert.False(answered.IsCompleted, "the upstream got the request head");
    }

    [Fact]
    public async Task A_client_that_stalls_mid_body_through_a_plugin_is_ended()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", Wat("body_authz"), "authz")));
        using var client = await ConnectAsync(proxy);
        var stream = client.GetStream();

        // 10 bytes of a million, then nothing: Kestrel's minimum body rate (240 B/s after a 5 s grace) ends it.
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n0123456789"));
        var reply = await ReadToEndAsync(stream, TimeSpan.FromSeconds(20));

        Assert.StartsWith("HTTP/1.1 408", reply, StringComparison.Ordinal);
        Assert.Equal(0, proxy.Upstream.Requests);
    }

    [Fact]
    public async Task A_websocket_over_h2c_passes_where_no_plugin_applies()
    {
        await using var echo = await WebSocketUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n", o => o.Clusters[ProxyOptions.DefaultCluster] = echo.Address);
        using var socket = new ClientWebSocket();
        socket.Options.HttpVersion = HttpVersion.Version20;
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{proxy.Server.Options.H2cPort}/ws"), invoker, timeout.Token);
        await socket.SendAsync("hello"u8.ToArray(), WebSocketMessageType.Text, true, timeout.Token);
        var buffer = new byte[64];
        var received = await socket.ReceiveAsync(buffer, timeout.Token);

        Assert.Equal("hello", Encoding.ASCII.GetString(buffer, 0, received.Count));
    }

    /// <summary>Accepts one connection, reads a request head and writes <paramref name="response"/> at once; the socket stays open.</summary>
    private static async Task<Socket> AnswerOnHeadAsync(TcpListener listener, string response)
    {
        var socket = await listener.AcceptSocketAsync();
        var head = new List<byte>();
        var buffer = new byte[4096];
        while (!Encoding.Latin1.GetString([.. head]).Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await socket.ReceiveAsync(buffer);
            if (read == 0)
            {
                break;
            }

            head.AddRange(buffer.AsSpan(0, read));
        }

        await socket.SendAsync(Encoding.ASCII.GetBytes(response));
        return socket;
    }

    private static async Task<TcpClient> ConnectAsync(ProxyHarness proxy)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        return client;
    }

    private static async Task<string> ReadToEndAsync(NetworkStream stream, TimeSpan? patience = null)
    {
        using var timeout = new CancellationTokenSource(patience ?? TimeSpan.FromSeconds(15));
        using var reader = new StreamReader(stream, Encoding.Latin1);
        return await reader.ReadToEndAsync(timeout.Token);
    }
}
