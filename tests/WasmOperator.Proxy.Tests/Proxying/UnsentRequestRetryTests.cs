using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// Requests HttpClient had given to an upstream HTTP/2 connection that the upstream closed (GOAWAY, then the close) before
/// their HEADERS were written: they never reached the upstream, and go again on a new connection instead of failing with
/// the close's error. Found as 1 to 4 failed calls in 3000 against nginx rotating its connections on a loaded machine (the
/// request's thread lost the CPU between taking the connection and writing on it); here the connection's writer is held
/// instead, behind a request whose body the upstream stopped reading.
/// </summary>
public sealed class UnsentRequestRetryTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Requests_a_closing_upstream_connection_never_sent_go_again_on_a_new_one(bool withPlugin)
    {
        await using var upstream = await ClosingH2Upstream.StartAsync();
        var plugins = withPlugin ? Yaml(Plugin("pass", Wat("pass_through"), "pass")) : "plugins: []\n";
        await using var proxy = await ProxyHarness.StartAsync(plugins, o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);
        using var active = new ActiveUpstreamRequests(upstream.Address.Port);

        // A: a call whose body never ends, which the upstream stops reading after A's HEADERS: the proxy's writer to that
        // connection blocks once the socket buffers are full.
        var endless = new EndlessContent();
        using var first = GrpcUpstream.Call("/upload", endless);
        var sendingFirst = proxy.H2c.SendAsync(first, HttpCompletionOption.ResponseHeadersRead);
        await upstream.FirstHeaders.Task.WaitAsync(Patience);
        await endless.StalledAsync().WaitAsync(Patience);

        // B and C take streams on that connection (it has room for 100) and queue their HEADERS behind A's body.
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = proxy.H2c.BaseAddress };
        using var second = GrpcUpstream.Call("/second", new ByteArrayContent(GrpcUpstream.Frame("second")));
        using var third = GrpcUpstream.Call("/third", new ByteArrayContent(GrpcUpstream.Frame("third")));
        var sendingSecond = client.SendAsync(second);
        var sendingThird = client.SendAsync(third);
        // Nothing on the wire says they are queued (their HEADERS wait in the proxy): the proxy's HttpClient counts them as
        // active (with A) once they reached its connection pool, and they queue on the connection right after.
        await active.Reached(3).WaitAsync(Patience);
        await Task.Delay(TimeSpan.FromMilliseconds(200));

        // The upstream ends the connection as nginx does past its keepalive_requests: GOAWAY naming A as the last stream it
        // takes, then the close. A fails (it was sent); B and C were never sent.
        await upstream.GoAwayAndCloseAsync(async () =>
        {
            try
            {
                using var answer = await sendingFirst.WaitAsync(Patience);
            }
            catch (HttpRequestException)
            {
                // The proxy reset A's stream: it is over either way.
            }
        });

        using var answered = await sendingSecond.WaitAsync(Patience);
        using var answeredToo = await sendingThird.WaitAsync(Patience);
        // Answered by the upstream (grpc-status 0), not by the proxy (a 200 with grpc-status 14, UNAVAILABLE).
        Assert.Equal("0", answered.Headers.GetValues("grpc-status").Single());
        Assert.Equal("0", answeredToo.Headers.GetValues("grpc-status").Single());
        Assert.Equal(GrpcUpstream.Frame("second"), upstream.Bodies["/second"]);
        Assert.Equal(GrpcUpstream.Frame("third"), upstream.Bodies["/third"]);
        Assert.Contains("proxy_upstream_retries_total 2", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    /// <summary>HttpClient's own count of requests under way to one port (its http.client.active_requests).</summary>
    private sealed class ActiveUpstreamRequests : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly string _portText;
        private long _active;
        private (long Count, TaskCompletionSource Reached)? _waiter;

        public ActiveUpstreamRequests(int port)
        {
            _portText = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "System.Net.Http" && instrument.Name == "http.client.active_requests")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, change, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "server.port" && Equals(tag.Value?.ToString(), _portText))
                    {
                        var now = Interlocked.Add(ref _active, change);
                        if (_waiter is { } waiter && now >= waiter.Count)
                        {
                            waiter.Reached.TrySetResult();
                        }
                    }
                }
            });
            _listener.Start();
        }

        public Task Reached(long count)
        {
            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiter = (count, reached);
            if (Interlocked.Read(ref _active) >= count)
            {
                reached.TrySetResult();
            }

            return reached.Task;
        }

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>A request body that writes until the proxy stops taking it; says when it has stalled.</summary>
    private sealed class EndlessContent : HttpContent
    {
        private long _written;

        public async Task StalledAsync()
        {
            var last = -1L;
            while (true)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(300));
                var now = Interlocked.Read(ref _written);
                if (now == last && now > 1024 * 1024)
                {
                    return;
                }

                last = now;
            }
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            var chunk = new byte[16 * 1024];
            while (true)
            {
                await stream.WriteAsync(chunk, cancellationToken);
                Interlocked.Add(ref _written, chunk.Length);
            }
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }

    /// <summary>
    /// An HTTP/2 upstream written frame by frame. Its first connection reads up to the first request's HEADERS and then
    /// nothing more, until told to send GOAWAY (last stream: that request), end its side and close. Later connections answer
    /// every request 200 with grpc-status 0 once it ended, and keep its body by path.
    /// </summary>
    private sealed class ClosingH2Upstream : IAsyncDisposable
    {
        private const byte Data = 0, Headers = 1, Settings = 4, Ping = 6, GoAway = 7, WindowUpdate = 8;
        private const byte EndStream = 1, Ack = 1, EndHeaders = 4;

        /// <summary>:status 200 (from the static table), grpc-status 0 (a literal, not indexed).</summary>
        private static readonly byte[] Answer = [0x88, 0x00, 11, .. "grpc-status"u8, 1, (byte)'0'];

        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Socket> _sockets = [];
        private Socket? _first;
        private int _firstStream;

        public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

        public TaskCompletionSource FirstHeaders { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ConcurrentDictionary<string, byte[]> Bodies { get; } = new(StringComparer.Ordinal);

        public static Task<ClosingH2Upstream> StartAsync()
        {
            var upstream = new ClosingH2Upstream();
            upstream._listener.Start();
            _ = upstream.AcceptAsync();
            return Task.FromResult(upstream);
        }

        /// <summary>GOAWAY naming the first request's stream, the end of this side; once <paramref name="ended"/>, the close.</summary>
        public async Task GoAwayAndCloseAsync(Func<Task> ended)
        {
            var socket = _first!;
            var payload = new byte[8];
            BinaryPrimitives.WriteInt32BigEndian(payload, _firstStream);
            await socket.SendAsync(Frame(GoAway, 0, 0, payload));
            socket.Shutdown(SocketShutdown.Send);
            await ended();
            // Unread bytes are waiting: the close resets the connection, which fails the proxy's blocked write.
            socket.Close();
        }

        private async Task AcceptAsync()
        {
            try
            {
                var first = true;
                while (true)
                {
                    var socket = await _listener.AcceptSocketAsync(_stop.Token);
                    lock (_sockets)
                    {
                        _sockets.Add(socket);
                    }

                    _ = first ? HoldAsync(socket) : ServeAsync(socket);
                    first = false;
                }
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
            }
        }

        private async Task HoldAsync(Socket socket)
        {
            _first = socket;
            var stream = new NetworkStream(socket, ownsSocket: false);
            await ReadExactlyAsync(stream, 24);
            // Room for the whole body as far as HTTP/2 goes: only TCP holds the proxy back.
            var settings = new byte[6];
            BinaryPrimitives.WriteUInt16BigEndian(settings, 0x4);
            BinaryPrimitives.WriteInt32BigEndian(settings.AsSpan(2), int.MaxValue);
            var window = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(window, int.MaxValue - 65535);
            await stream.WriteAsync(Frame(Settings, 0, 0, settings).Concat(Frame(WindowUpdate, 0, 0, window)).ToArray());
            while (true)
            {
                var (type, _, id, _) = await ReadFrameAsync(stream);
                if (type == Headers)
                {
                    _firstStream = id;
                    FirstHeaders.TrySetResult();
                    return;
                }
            }
        }

        private async Task ServeAsync(Socket socket)
        {
            try
            {
                var stream = new NetworkStream(socket, ownsSocket: false);
                await ReadExactlyAsync(stream, 24);
                await stream.WriteAsync(Frame(Settings, 0, 0, []));
                var paths = new Dictionary<int, string>();
                var bodies = new Dictionary<int, List<byte>>();
                while (true)
                {
                    var (type, flags, id, payload) = await ReadFrameAsync(stream);
                    if (type == Settings && (flags & Ack) == 0)
                    {
                        await stream.WriteAsync(Frame(Settings, Ack, 0, []));
                    }
                    else if (type == Ping && (flags & Ack) == 0)
                    {
                        await stream.WriteAsync(Frame(Ping, Ack, 0, payload));
                    }
                    else if (type == Headers)
                    {
                        // Literal :path values, as HttpClient sends a path it has not indexed yet on this connection.
                        paths[id] = PathOf(payload);
                        bodies[id] = [];
                    }
                    else if (type == Data && bodies.TryGetValue(id, out var body))
                    {
                        body.AddRange(payload);
                    }

                    if ((type == Headers || type == Data) && (flags & EndStream) != 0 && paths.Remove(id, out var path))
                    {
                        Bodies[path] = [.. bodies[id]];
                        await stream.WriteAsync(Frame(Headers, EndStream | EndHeaders, id, Answer));
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
            {
                // The proxy closed the connection, or the test ended.
            }
        }

        /// <summary>The request's path, read from its header block without HPACK: the known paths are ASCII and unique.</summary>
        private static string PathOf(byte[] block)
        {
            var text = System.Text.Encoding.Latin1.GetString(block);
            foreach (var path in new[] { "/second", "/third", "/upload" })
            {
                if (text.Contains(path, StringComparison.Ordinal))
                {
                    return path;
                }
            }

            return "?";
        }

        private static async Task<(byte Type, byte Flags, int Id, byte[] Payload)> ReadFrameAsync(Stream stream)
        {
            var head = await ReadExactlyAsync(stream, 9);
            var length = (head[0] << 16) | (head[1] << 8) | head[2];
            var payload = await ReadExactlyAsync(stream, length);
            return (head[3], head[4], BinaryPrimitives.ReadInt32BigEndian(head.AsSpan(5)) & int.MaxValue, payload);
        }

        private static async Task<byte[]> ReadExactlyAsync(Stream stream, int count)
        {
            var bytes = new byte[count];
            await stream.ReadExactlyAsync(bytes);
            return bytes;
        }

        private static byte[] Frame(byte type, byte flags, int id, byte[] payload)
        {
            var frame = new byte[9 + payload.Length];
            frame[0] = (byte)(payload.Length >> 16);
            frame[1] = (byte)(payload.Length >> 8);
            frame[2] = (byte)payload.Length;
            frame[3] = type;
            frame[4] = flags;
            BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), id);
            payload.CopyTo(frame, 9);
            return frame;
        }

        public ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_sockets)
            {
                foreach (var socket in _sockets)
                {
                    socket.Dispose();
                }
            }

            _stop.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
