using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// An upstream that answers at once and streams its response while it still reads the request body (an echo, a
/// transcoder): the response is relayed while the body goes up, as Envoy and nginx (request buffering off) do,
/// instead of both sides waiting on full socket buffers until the upstream timeout.
/// </summary>
public sealed class FullDuplexTests
{
    // Far more than the socket buffers between client, proxy and upstream hold: half duplex deadlocks on it.
    private const int Large = 16 << 20;

    private static Task<ProxyHarness> ProxyToAsync(Uri upstream, string plugins = "plugins: []\n", int maxBufferedBody = 1024 * 1024) =>
        ProxyHarness.StartAsync(plugins, o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream;
            o.UpstreamTimeout = TimeSpan.FromSeconds(5);
            o.MaxBufferedBodyBytes = maxBufferedBody;
        });

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    private static byte[] Payload(int size)
    {
        var payload = new byte[size];
        for (var i = 0; i < size; i++)
        {
            payload[i] = (byte)((i * 31) + (i >> 16));
        }

        return payload;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_echo_upstream_streams_a_large_upload_back_while_it_is_still_being_sent(bool upstreamSaysClose)
    {
        await using var upstream = new EchoUpstream(upstreamSaysClose);
        await using var proxy = await ProxyToAsync(upstream.Address);
        var payload = Payload(Large);

        var (head, body) = await PostAsync(proxy, payload);

        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.Equal(payload.Length, body.Length);
        Assert.True(payload.AsSpan().SequenceEqual(body), "the echoed body differs from the one sent");
        Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Through_a_plugin_on_both_bodies_the_echo_still_flows_both_ways_at_once()
    {
        // Far more than the socket buffers hold: the plugins' response callbacks run while the upload goes on.
        await using var upstream = new EchoUpstream(close: false);
        await using var proxy = await ProxyToAsync(upstream.Address, Yaml(Plugin("pass", Wat("pass_through"), "pass")));
        var payload = Payload(Large);

        var (head, body) = await PostAsync(proxy, payload);

        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.True(payload.AsSpan().SequenceEqual(body), "the echoed body differs from the one sent");
    }

    [Fact]
    public async Task A_plugin_that_holds_the_response_body_gets_it_whole_while_the_upload_goes_on()
    {
        await using var upstream = new EchoUpstream(close: false);
        await using var proxy = await ProxyToAsync(upstream.Address, Yaml(Plugin("hold", Wat("hold_response_body"), "hold")), maxBufferedBody: 2 * Large);
        var payload = Payload(Large);

        var (head, body) = await PostAsync(proxy, payload);

        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.True(payload.AsSpan().SequenceEqual(body), "the echoed body differs from the one sent");
    }

    [Theory]
    [InlineData("pause_both_until_tick")]
    [InlineData("pause_both_resume_when_both_wait")]
    [InlineData("resume_request_from_response_body")]
    public async Task A_plugin_pausing_the_request_at_its_end_and_the_response_at_its_head_has_both_resumed(string fixture)
    {
        // The echo answers as soon as the first bytes arrive, while the plugin then holds the request at its end: both
        // directions wait at once (the second fixture resumes nothing before they do), and each resume is for its own.
        // With one wait slot per stream, the second pause took it and the first's resume was lost: 503 after the pause timeout.
        // The third resumes the request from the response's body callback: a continue of the other direction is a resume.
        await using var upstream = new EchoUpstream(close: false);
        await using var proxy = await PausingProxyAsync(upstream.Address, fixture);

        var (head, body) = await PostHelloInTwoPartsAsync(proxy);

        // A lost resume ends at the pause timeout with its 503, not a 200.
        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.Equal("hello", Encoding.ASCII.GetString(body));
    }

    [Fact]
    public async Task A_local_reply_while_the_request_waits_at_its_end_and_the_response_at_its_head_is_what_the_client_gets()
    {
        await using var upstream = new EchoUpstream(close: false);
        await using var proxy = await PausingProxyAsync(upstream.Address, "reply_when_both_wait");

        var (head, body) = await PostHelloInTwoPartsAsync(proxy);

        // The echo's answer had come (its head waits in the plugin): the reply replaces it, and the upload stops.
        Assert.StartsWith("HTTP/1.1 403", head, StringComparison.Ordinal);
        Assert.Equal("denied", Encoding.ASCII.GetString(body));
        Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Echoed_uploads_that_end_cleanly_both_ways_keep_reusing_one_connection()
    {
        await using var upstream = new EchoUpstream(close: false);
        await using var proxy = await ProxyToAsync(upstream.Address);

        for (var i = 0; i < 3; i++)
        {
            var (response, _) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = new ByteArrayContent(Payload(1000)) });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(1000, (await response.Content.ReadAsByteArrayAsync()).Length);
        }

        Assert.Equal(1, upstream.Connections);
    }

    [Fact]
    public async Task A_response_that_ends_before_the_upload_stops_the_upload_and_its_connection_is_not_reused()
    {
        // A streaming head first, then, after a little of the body, a complete answer; from then on it reads nothing more.
        var connections = 0;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var stop = new CancellationTokenSource();
        var serving = Task.Run(async () =>
        {
            var open = new List<Socket>();
            try
            {
                while (true)
                {
                    var socket = await listener.AcceptSocketAsync(stop.Token);
                    open.Add(socket);
                    Interlocked.Increment(ref connections);
                    await EchoUpstream.ReadHeadAsync(socket, stop.Token);
                    await socket.SendAsync(Ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
                    await socket.ReceiveAsync(new byte[1000], stop.Token);
                    await socket.SendAsync(Ascii("4\r\ndone\r\n0\r\n\r\n"));
                }
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                open.ForEach(s => s.Dispose());
            }
        });
        await using var proxy = await ProxyToAsync(new Uri($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}"));

        var (first, firstBody) = await PostAsync(proxy, Payload(Large));
        var (second, secondBody) = await PostAsync(proxy, Payload(Large));
        await stop.CancelAsync();
        await serving;

        Assert.StartsWith("HTTP/1.1 200", first, StringComparison.Ordinal);
        Assert.Equal("done", Encoding.ASCII.GetString(firstBody));
        Assert.StartsWith("HTTP/1.1 200", second, StringComparison.Ordinal);
        Assert.Equal("done", Encoding.ASCII.GetString(secondBody));
        Assert.Equal(2, connections);
        Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_body_that_turns_out_malformed_while_the_echo_streams_resets_the_response()
    {
        await using var upstream = new EchoUpstream(close: false);
        await using var proxy = await ProxyToAsync(upstream.Address);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port, timeout.Token);
        var stream = client.GetStream();

        await stream.WriteAsync(Ascii("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), timeout.Token);
        var received = new StringBuilder();
        var buffer = new byte[4096];
        while (!received.ToString().Contains("hello", StringComparison.Ordinal))
        {
            var n = await stream.ReadAsync(buffer, timeout.Token);
            Assert.True(n > 0, "the proxy closed before the echo came: " + received);
            received.Append(Encoding.Latin1.GetString(buffer, 0, n));
        }

        await stream.WriteAsync(Ascii("zz\r\nnot a chunk\r\n"), timeout.Token);
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Append(Encoding.Latin1.GetString(buffer, 0, n));
            }
        }
        catch (IOException)
        {
            // Reset: what a response cut short should look like.
        }

        Assert.StartsWith("HTTP/1.1 200", received.ToString(), StringComparison.Ordinal);
        Assert.False(received.ToString().EndsWith("0\r\n\r\n", StringComparison.Ordinal), "a cut response looked complete: " + received);
        Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    /// <summary>Plugin <paramref name="fixture"/> in front of <paramref name="upstream"/>, with a pause timeout the tests can tell apart from a resume.</summary>
    private static Task<ProxyHarness> PausingProxyAsync(Uri upstream, string fixture) =>
        ProxyHarness.StartAsync(Yaml(Plugin("plugin", Wat(fixture), "plugin")), o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream;
            o.PauseTimeout = TimeSpan.FromSeconds(6);
            o.ShardsPerPlugin = 1;
        });

    /// <summary>
    /// POSTs "hello" in two writes 300 ms apart, so the proxy forwards "hel" (and an echo answers) before the end of the
    /// body reaches the plugins; returns the head and the decoded body, read until the proxy closes.
    /// </summary>
    private static async Task<(string Head, byte[] Body)> PostHelloInTwoPartsAsync(ProxyHarness proxy)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port, timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Ascii("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhel"), timeout.Token);
        await Task.Delay(300, timeout.Token);
        await stream.WriteAsync(Ascii("lo"), timeout.Token);
        var received = new MemoryStream();
        await stream.CopyToAsync(received, timeout.Token);
        return Decode(received.ToArray());
    }

    /// <summary>
    /// POSTs <paramref name="payload"/> over a raw socket while reading the response at the same time (HttpClient
    /// sends a whole HTTP/1.1 body before it reads), until the proxy closes; returns the head and the decoded body.
    /// </summary>
    private static async Task<(string Head, byte[] Body)> PostAsync(ProxyHarness proxy, byte[] payload)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port, timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Ascii($"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {payload.Length}\r\nConnection: close\r\n\r\n"), timeout.Token);
        var sending = Task.Run(async () =>
        {
            try
            {
                for (var offset = 0; offset < payload.Length; offset += 64 * 1024)
                {
                    await stream.WriteAsync(payload.AsMemory(offset, Math.Min(64 * 1024, payload.Length - offset)), timeout.Token);
                }
            }
            catch (IOException)
            {
                // The proxy may close once the response ended, with the rest of the body unread.
            }
        });
        var received = new MemoryStream();
        await stream.CopyToAsync(received, timeout.Token);
        await sending;
        return Decode(received.ToArray());
    }

    private static (string Head, byte[] Body) Decode(byte[] response)
    {
        var end = response.AsSpan().IndexOf("\r\n\r\n"u8);
        Assert.True(end >= 0, "no complete response head: " + Encoding.Latin1.GetString(response));
        var head = Encoding.Latin1.GetString(response, 0, end);
        var rest = response.AsSpan(end + 4);
        if (!head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
        {
            return (head, rest.ToArray());
        }

        var body = new MemoryStream();
        while (true)
        {
            var line = rest.IndexOf("\r\n"u8);
            var size = Convert.ToInt32(Encoding.ASCII.GetString(rest[..line]), 16);
            rest = rest[(line + 2)..];
            if (size == 0)
            {
                return (head, body.ToArray());
            }

            body.Write(rest[..size]);
            rest = rest[(size + 2)..];
        }
    }
}
