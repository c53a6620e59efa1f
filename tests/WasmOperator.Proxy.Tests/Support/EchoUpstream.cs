using System.Net;
using System.Net.Sockets;
using System.Text;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// Answers 200 (chunked) as soon as it has a request head, then sends back every piece of the Content-Length body
/// as it reads it, and ends the response when the body ended; keeps the connection for the next request unless
/// it said "Connection: close". A body without a Content-Length is echoed raw (chunk framing and all) until the proxy closes.
/// </summary>
internal sealed class EchoUpstream : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly bool _close;
    private readonly Task _accepting;
    private int _connections;

    public EchoUpstream(bool close)
    {
        _close = close;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    public int Connections => Volatile.Read(ref _connections);

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

            Interlocked.Increment(ref _connections);
            _ = EchoAsync(socket);
        }
    }

    private async Task EchoAsync(Socket socket)
    {
        using (socket)
        {
            var buffer = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    var head = await ReadHeadAsync(socket, _stop.Token);
                    var declared = head.Split("\r\n").SingleOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
                    var length = declared is null ? long.MaxValue : long.Parse(declared[15..], System.Globalization.CultureInfo.InvariantCulture);
                    await socket.SendAsync(Ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + (_close ? "Connection: close\r\n" : "") + "\r\n"));
                    for (long read = 0; read < length;)
                    {
                        var n = await socket.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - read)), _stop.Token);
                        if (n == 0)
                        {
                            return;
                        }

                        read += n;
                        await socket.SendAsync(Ascii($"{n:X}\r\n"));
                        await socket.SendAsync(buffer.AsMemory(0, n));
                        await socket.SendAsync(Ascii("\r\n"));
                    }

                    await socket.SendAsync(Ascii("0\r\n\r\n"));
                    if (_close)
                    {
                        return;
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>A request or response head, read byte by byte: nothing of the body is read with it.</summary>
    public static async Task<string> ReadHeadAsync(Socket socket, CancellationToken cancellationToken)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await socket.ReceiveAsync(one, cancellationToken) == 0)
            {
                throw new IOException("closed in the middle of a request head");
            }

            head.Append((char)one[0]);
        }

        return head.ToString();
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
