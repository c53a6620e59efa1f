using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// A loopback HTTP/1.1 server that answers with exactly the bytes a test scripts: for the framings,
/// malformed responses, stalls and connection closes a well-behaved server never produces. It parses
/// each request head (and a Content-Length or chunked body) and records it raw.
/// </summary>
internal sealed class RawUpstream : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<RawRequest, NetworkStream, Task<bool>> _respond;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<TcpClient> _clients = [];
    private readonly Task _accepting;
    private int _connections;
    private int _heads;

    /// <param name="respond">Writes the response; returns false to close the connection afterwards.</param>
    public RawUpstream(Func<RawRequest, NetworkStream, Task<bool>> respond)
    {
        _respond = respond;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Request heads received so far, each counted before its body is read (<see cref="Requests"/> holds whole requests).</summary>
    public int Heads => Volatile.Read(ref _heads);

    public ConcurrentQueue<RawRequest> Requests { get; } = new();

    /// <summary>Completed when a connection is closed by the peer (the proxy) while a request was pending.</summary>
    public TaskCompletionSource PeerClosed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Reads and drops what comes until the peer closes the connection (or resets it).</summary>
    public static async Task ReadUntilClosedAsync(NetworkStream stream)
    {
        var buffer = new byte[1];
        try
        {
            while (await stream.ReadAsync(buffer) > 0)
            {
            }
        }
        catch (IOException)
        {
        }
    }

    /// <summary>A responder that writes a fixed response and keeps the connection.</summary>
    public static Func<RawRequest, NetworkStream, Task<bool>> Fixed(string response, bool keepAlive = true) => async (_, stream) =>
    {
        await stream.WriteAsync(Encoding.Latin1.GetBytes(response));
        return keepAlive;
    };

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            _clients.Add(client);
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            var stream = client.GetStream();
            var reader = new RawReader(stream, () => Interlocked.Increment(ref _heads));
            try
            {
                while (true)
                {
                    var request = await reader.ReadRequestAsync(_stop.Token);
                    if (request is null)
                    {
                        return;
                    }

                    Requests.Enqueue(request);
                    if (!await _respond(request, stream))
                    {
                        return;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                PeerClosed.TrySetResult();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        await _accepting;
        _stop.Dispose();
    }

    private sealed class RawReader(NetworkStream stream, Action headRead)
    {
        private byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        public async Task<RawRequest?> ReadRequestAsync(CancellationToken cancellationToken)
        {
            var head = await LineBlockAsync(cancellationToken);
            if (head is null)
            {
                return null;
            }

            headRead();

            var lines = head.Split("\r\n");
            var headers = lines.Skip(1).Select(l => l.Split(':', 2)).Select(p => new KeyValuePair<string, string>(p[0], p[1].Trim())).ToList();
            var body = new MemoryStream();
            var trailers = new List<KeyValuePair<string, string>>();
            var length = headers.Where(h => h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(h => long.Parse(h.Value, System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
            if (headers.Exists(h => h.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)))
            {
                while (true)
                {
                    var size = Convert.ToInt32((await LineAsync(cancellationToken))!.Split(';')[0], 16);
                    if (size == 0)
                    {
                        string? line;
                        while (!string.IsNullOrEmpty(line = await LineAsync(cancellationToken)))
                        {
                            var p = line.Split(':', 2);
                            trailers.Add(new(p[0], p[1].Trim()));
                        }

                        break;
                    }

                    body.Write(await BytesAsync(size, cancellationToken));
                    await LineAsync(cancellationToken);
                }
            }
            else if (length > 0)
            {
                body.Write(await BytesAsync((int)length, cancellationToken));
            }

            return new RawRequest(lines[0], headers, body.ToArray(), trailers);
        }

        private async Task<string?> LineBlockAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var end = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
                if (end >= 0)
                {
                    var text = Encoding.Latin1.GetString(_buffer, _start, end);
                    _start += end + 4;
                    return text;
                }

                if (!await FillAsync(cancellationToken))
                {
                    return null;
                }
            }
        }

        private async Task<string?> LineAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var end = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8);
                if (end >= 0)
                {
                    var text = Encoding.Latin1.GetString(_buffer, _start, end);
                    _start += end + 2;
                    return text;
                }

                if (!await FillAsync(cancellationToken))
                {
                    return null;
                }
            }
        }

        private async Task<byte[]> BytesAsync(int count, CancellationToken cancellationToken)
        {
            while (_end - _start < count)
            {
                if (!await FillAsync(cancellationToken))
                {
                    throw new IOException("peer closed in the middle of a body");
                }
            }

            var bytes = _buffer.AsSpan(_start, count).ToArray();
            _start += count;
            return bytes;
        }

        private async Task<bool> FillAsync(CancellationToken cancellationToken)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            _end += read;
            return read > 0;
        }
    }
}

/// <summary>One request as the upstream received it.</summary>
internal sealed record RawRequest(string RequestLine, List<KeyValuePair<string, string>> Headers, byte[] Body, List<KeyValuePair<string, string>> Trailers)
{
    public string? Header(string name) => Headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();
}
