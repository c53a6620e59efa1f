using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// An upstream that answers before the request body is sent (413, 401) and then closes or stops reading:
/// its answer reaches the client, as through Envoy or nginx, instead of a 503 counted as an upstream failure.
/// </summary>
public sealed class EarlyUpstreamAnswerTests
{
    private static Task<ProxyHarness> ProxyToAsync(Uri upstream, string plugins = "plugins: []\n") =>
        ProxyHarness.StartAsync(plugins, o => o.Clusters[ProxyOptions.DefaultCluster] = upstream);

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_413_the_upstream_sends_before_closing_on_a_large_upload_reaches_the_client(bool chunked)
    {
        await using var upstream = new HeadOnlyUpstream(async (_, socket, _) =>
        {
            await socket.SendAsync(Ascii("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large"));
            // Closing with the body unread resets the connection: the proxy's next send fails.
        });
        await using var proxy = await ProxyToAsync(upstream.Address);
        HttpContent content = chunked ? new StreamContent(new MemoryStream(new byte[16 << 20])) : new ByteArrayContent(new byte[16 << 20]);

        var (response, _) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = content });

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("too large", await response.Content.ReadAsStringAsync());
        Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_early_413_goes_through_the_plugins_response_callbacks()
    {
        await using var upstream = new HeadOnlyUpstream(async (_, socket, _) =>
            await socket.SendAsync(Ascii("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")));
        await using var proxy = await ProxyToAsync(upstream.Address, Yaml(Plugin("eos", Wat("response_eos"), "eos")));

        var (response, _) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new ByteArrayContent(new byte[16 << 20]) });

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("0", Assert.Single(response.Headers.GetValues("x-headers-eos")));
        Assert.Equal("too large", await response.Content.ReadAsStringAsync());
        Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_complete_401_from_an_upstream_that_stops_reading_reaches_a_client_that_waits_in_the_middle_of_its_body(bool plugin)
    {
        await using var upstream = new HeadOnlyUpstream(async (_, socket, stop) =>
        {
            await socket.SendAsync(Ascii("HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\nWWW-Authenticate: Basic\r\n\r\nlogin"));
            await Task.Delay(Timeout.Infinite, stop); // neither reads nor closes until the test ends
        });
        // Through a plugin the body is the plugins' stream. Here the answer comes before the upload waits on the client
        // for its second chunk; an answer that comes while that read waits is not stopped by it (it waits for Kestrel's
        // minimum body rate, ~5.5 s: known open, see the proxy's Forwarding notes).
        await using var proxy = await ProxyToAsync(upstream.Address, plugin ? Yaml(Plugin("add", Example("add_header"), "add_header")) : "plugins: []\n");

        // The client sends a first part of the body and waits for an answer before sending more.
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Ascii("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"));
        await stream.WriteAsync(new byte[1000]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var (head, body) = await ReadResponseAsync(stream, timeout.Token);

        Assert.StartsWith("HTTP/1.1 401", head, StringComparison.Ordinal);
        Assert.Contains("WWW-Authenticate: Basic", head, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("login", body);
        Assert.Contains("proxy_upstream_errors_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_upstream_that_closes_without_answering_while_the_body_streams_is_still_a_503()
    {
        await using var upstream = new HeadOnlyUpstream((_, _, _) => Task.CompletedTask);
        await using var proxy = await ProxyToAsync(upstream.Address);

        var (response, _) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new ByteArrayContent(new byte[16 << 20]) });

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("proxy_upstream_errors_total 1", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_upstream_that_answers_early_and_keeps_reading_gets_the_whole_body()
    {
        // A streaming server: its response head comes first, its body (the byte count) once the request ended.
        await using var upstream = new HeadOnlyUpstream(async (head, socket, stop) =>
        {
            await socket.SendAsync(Ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
            var length = long.Parse(head.Split("\r\n").First(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))[15..], System.Globalization.CultureInfo.InvariantCulture);
            var buffer = new byte[64 * 1024];
            long read = 0;
            while (read < length)
            {
                var n = await socket.ReceiveAsync(buffer, stop);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            var text = read.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await socket.SendAsync(Ascii($"{text.Length:X}\r\n{text}\r\n0\r\n\r\n"));
        });
        await using var proxy = await ProxyToAsync(upstream.Address);

        var (response, _) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/echo-count") { Content = new ByteArrayContent(new byte[4 << 20]) });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal((4 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Uploads_answered_after_their_body_keep_reusing_one_connection()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyToAsync(upstream.Address);

        for (var i = 0; i < 5; i++)
        {
            var (response, _) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new ByteArrayContent(new byte[100_000]) });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(5, upstream.Requests.Count);
        Assert.Equal(1, upstream.Connections);
    }

    [Fact]
    public async Task Expect_100_continue_is_answered_by_the_proxy_and_the_body_reaches_the_upstream()
    {
        await using var upstream = new RawUpstream(async (request, stream) =>
        {
            await stream.WriteAsync(Ascii($"HTTP/1.1 200 OK\r\nContent-Length: {request.Body.Length}\r\n\r\n"));
            await stream.WriteAsync(request.Body);
            return true;
        });
        await using var proxy = await ProxyToAsync(upstream.Address);

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Ascii("PUT /doc HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var (interim, _) = await ReadResponseAsync(stream, timeout.Token);
        await stream.WriteAsync(Ascii("hello"), timeout.Token);
        var (head, body) = await ReadResponseAsync(stream, timeout.Token);

        Assert.StartsWith("HTTP/1.1 100", interim, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.Equal("hello", body);
        Assert.Null(Assert.Single(upstream.Requests).Header("Expect"));
    }

    /// <summary>Reads one response head and its Content-Length body (none for a 1xx) byte by byte.</summary>
    private static async Task<(string Head, string Body)> ReadResponseAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, cancellationToken) == 0)
            {
                throw new IOException("the proxy closed the connection in the middle of a response head: " + head);
            }

            head.Append((char)one[0]);
        }

        var text = head.ToString();
        var length = text.Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            .Select(l => int.Parse(l[15..], System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        var body = new byte[length];
        await stream.ReadExactlyAsync(body, cancellationToken);
        return (text, Encoding.ASCII.GetString(body));
    }

    /// <summary>
    /// A loopback upstream that reads only the request head, runs a script on the socket (which may answer,
    /// read on, or do nothing), then closes it: what <see cref="RawUpstream"/>, reading whole requests, cannot do.
    /// </summary>
    private sealed class HeadOnlyUpstream : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly Func<string, Socket, CancellationToken, Task> _script;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;

        public HeadOnlyUpstream(Func<string, Socket, CancellationToken, Task> script)
        {
            _script = script;
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

        private async Task AcceptAsync()
        {
            while (true)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }

                _ = ServeAsync(socket);
            }
        }

        private async Task ServeAsync(Socket socket)
        {
            using (socket)
            {
                var head = new StringBuilder();
                var one = new byte[1];
                try
                {
                    // Byte by byte: nothing of the body is read with the head.
                    while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
                    {
                        if (await socket.ReceiveAsync(one, _stop.Token) == 0)
                        {
                            return;
                        }

                        head.Append((char)one[0]);
                    }

                    await _script(head.ToString(), socket, _stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _stop.Dispose();
        }
    }
}
