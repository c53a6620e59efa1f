using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// Requests HttpClient cannot send: a request target exactly as written, request trailers over HTTP/1.1 chunked, and
/// HTTP/2 (prior knowledge) with hand-written frames and HPACK literals.
/// </summary>
internal static class RawHttp
{
    private const byte Data = 0, Headers = 1, Settings = 4, GoAway = 7;
    private const byte EndStream = 0x1, EndHeaders = 0x4, Ack = 0x1;

    /// <summary>
    /// Writes <paramref name="request"/> as given on a new connection and returns what came back by the time the server
    /// closed it (Latin-1), or after <paramref name="wait"/> with "[still open]" appended.
    /// </summary>
    public static async Task<string> ExchangeAsync(int port, string request, TimeSpan wait)
    {
        using var timeout = new CancellationTokenSource(wait);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request), timeout.Token);
        var reply = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                reply.Append(Encoding.Latin1.GetString(buffer, 0, read));
            }
        }
        catch (OperationCanceledException)
        {
            reply.Append("[still open]");
        }

        return reply.ToString();
    }

    /// <summary>
    /// Sends <c>GET target HTTP/1.1</c> exactly as given (HttpClient would normalize a target like <c>/a/../b</c> or
    /// <c>//host/x</c>), with <c>Connection: close</c> and each of <paramref name="headers"/> as a field line of its own
    /// (HttpClient joins the values of a repeated name into one line); returns the whole response text (Latin-1).
    /// </summary>
    public static async Task<string> GetAsync(int port, string target, string host = "app", params (string Name, string Value)[] headers)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        var fields = string.Concat(headers.Select(h => $"{h.Name}: {h.Value}\r\n"));
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {target} HTTP/1.1\r\nHost: {host}\r\n{fields}Connection: close\r\n\r\n"));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var reader = new StreamReader(stream, Encoding.Latin1);
        return await reader.ReadToEndAsync(timeout.Token);
    }

    /// <summary>Sends a chunked HTTP/1.1 POST whose body ends with <paramref name="trailers"/>; returns the whole response text.</summary>
    public static async Task<string> PostChunkedWithTrailersAsync(int port, string path, string body, params (string Name, string Value)[] trailers)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        var text = new StringBuilder()
            .Append("POST ").Append(path).Append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            .Append(Encoding.UTF8.GetByteCount(body).ToString("x", System.Globalization.CultureInfo.InvariantCulture)).Append("\r\n").Append(body).Append("\r\n0\r\n");
        foreach (var (name, value) in trailers)
        {
            text.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        text.Append("\r\n");
        await stream.WriteAsync(Encoding.UTF8.GetBytes(text.ToString()));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await reader.ReadToEndAsync(timeout.Token);
    }

    /// <summary>
    /// Sends one HTTP/2 POST on stream 1: headers, one DATA frame without END_STREAM, then a trailers
    /// HEADERS frame with END_STREAM. Waits until the response stream ends; returns the frame types seen on stream 1.
    /// </summary>
    public static Task<List<byte>> PostH2WithTrailersAsync(int port, string path, IReadOnlyList<(string Name, string Value)> headers, byte[] body, IReadOnlyList<(string Name, string Value)> trailers) =>
        PostH2WithTrailersAsync(port, path, headers, [body], trailers);

    /// <summary>As the other overload, the body in these DATA frames (an empty one among them, say), none with END_STREAM.</summary>
    public static async Task<List<byte>> PostH2WithTrailersAsync(int port, string path, IReadOnlyList<(string Name, string Value)> headers, IReadOnlyList<byte[]> dataFrames, IReadOnlyList<(string Name, string Value)> trailers)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray());
        await WriteFrameAsync(stream, Settings, 0, 0, []);

        var block = new List<byte> { 0x83, 0x86 }; // :method POST, :scheme http (static table)
        Literal(block, ":path", path);
        Literal(block, ":authority", $"127.0.0.1:{port}");
        foreach (var (name, value) in headers)
        {
            Literal(block, name, value);
        }

        await WriteFrameAsync(stream, Headers, EndHeaders, 1, [.. block]);
        foreach (var data in dataFrames)
        {
            await WriteFrameAsync(stream, Data, 0, 1, data);
        }

        var trailerBlock = new List<byte>();
        foreach (var (name, value) in trailers)
        {
            Literal(trailerBlock, name, value);
        }

        await WriteFrameAsync(stream, Headers, EndHeaders | EndStream, 1, [.. trailerBlock]);

        var seen = new List<byte>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var header = new byte[9];
        while (true)
        {
            await stream.ReadExactlyAsync(header, timeout.Token);
            var length = (header[0] << 16) | (header[1] << 8) | header[2];
            var type = header[3];
            var flags = header[4];
            var id = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & 0x7fffffff;
            var payload = new byte[length];
            await stream.ReadExactlyAsync(payload, timeout.Token);
            if (type == Settings && (flags & Ack) == 0)
            {
                await WriteFrameAsync(stream, Settings, Ack, 0, []);
            }
            else if (type == GoAway)
            {
                throw new IOException("the server sent GOAWAY");
            }
            else if (id == 1)
            {
                seen.Add(type);
                if ((flags & EndStream) != 0 || type == 3 /* RST_STREAM */)
                {
                    return seen;
                }
            }
        }
    }

    /// <summary>
    /// Sends one HTTP/2 request on stream 1 with exactly these fields, Latin-1, neither validated nor normalised (HttpClient
    /// refuses or fixes most of what a test sends this way): the headers, the body in one DATA frame if any, the trailers if
    /// any. <paramref name="beforeBody"/>, if given, is awaited between the headers and the body. Returns what came back
    /// until the stream ended, was reset or the connection went away.
    /// </summary>
    public static async Task<H2Reply> SendH2Async(int port, IReadOnlyList<(string Name, string Value)> headers, byte[]? body = null,
        IReadOnlyList<(string Name, string Value)>? trailers = null, Func<Task>? beforeBody = null)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray());
        await WriteFrameAsync(stream, Settings, 0, 0, []);
        var block = new List<byte>();
        foreach (var (name, value) in headers)
        {
            Literal(block, name, value);
        }

        await WriteFrameAsync(stream, Headers, (byte)(body is null && trailers is null ? EndHeaders | EndStream : EndHeaders), 1, [.. block]);
        if (beforeBody is not null)
        {
            await beforeBody();
        }

        if (body is not null)
        {
            await WriteFrameAsync(stream, Data, trailers is null ? EndStream : (byte)0, 1, body);
        }

        if (trailers is not null)
        {
            var trailerBlock = new List<byte>();
            foreach (var (name, value) in trailers)
            {
                Literal(trailerBlock, name, value);
            }

            await WriteFrameAsync(stream, Headers, EndHeaders | EndStream, 1, [.. trailerBlock]);
        }

        int? status = null;
        var received = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var header = new byte[9];
        while (true)
        {
            try
            {
                await stream.ReadExactlyAsync(header, timeout.Token);
            }
            catch (Exception ex) when (ex is EndOfStreamException or IOException)
            {
                return new H2Reply(status, Encoding.Latin1.GetString(received.ToArray()), null, ConnectionEnded: true);
            }

            var payload = new byte[(header[0] << 16) | (header[1] << 8) | header[2]];
            await stream.ReadExactlyAsync(payload, timeout.Token);
            var type = header[3];
            var flags = header[4];
            var id = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & 0x7fffffff;
            if (type == GoAway)
            {
                return new H2Reply(status, Encoding.Latin1.GetString(received.ToArray()), null, ConnectionEnded: true);
            }

            if (id != 1)
            {
                continue;
            }

            if (type == 3) // RST_STREAM
            {
                return new H2Reply(status, Encoding.Latin1.GetString(received.ToArray()), BinaryPrimitives.ReadInt32BigEndian(payload), ConnectionEnded: false);
            }

            if (type == Headers)
            {
                status ??= Status(payload);
            }
            else if (type == Data)
            {
                received.Write(payload);
            }

            if ((flags & EndStream) != 0)
            {
                return new H2Reply(status, Encoding.Latin1.GetString(received.ToArray()), null, ConnectionEnded: false);
            }
        }
    }

    /// <summary>
    /// The <c>:status</c> of a response HEADERS block, the field Kestrel writes first: an index into HPACK's static table
    /// (200, 204, 206, 304, 400, 404, 500), else a literal of the static name <c>:status</c> with three digits.
    /// </summary>
    private static int Status(byte[] block)
    {
        int[] indexed = [200, 204, 206, 304, 400, 404, 500];
        if ((block[0] & 0x80) != 0)
        {
            return indexed[(block[0] & 0x7f) - 8];
        }

        Assert.Equal(8, block[0] & 0x0f);
        Assert.Equal(3, block[1]);
        return int.Parse(Encoding.ASCII.GetString(block, 2, 3), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>HPACK "literal header field without indexing, new name", Latin-1, no Huffman (names and values under 127 bytes).</summary>
    private static void Literal(List<byte> block, string name, string value)
    {
        var n = Encoding.Latin1.GetBytes(name);
        var v = Encoding.Latin1.GetBytes(value);
        block.Add(0x00);
        block.Add((byte)n.Length);
        block.AddRange(n);
        block.Add((byte)v.Length);
        block.AddRange(v);
    }

    private static async Task WriteFrameAsync(NetworkStream stream, byte type, byte flags, int id, byte[] payload) =>
        await stream.WriteAsync(Frame(type, flags, id, payload));

    /// <summary>An HTTP/2 frame: its 9-byte header (length, type, flags, stream) and <paramref name="payload"/>.</summary>
    public static byte[] Frame(byte type, byte flags, int id, byte[] payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), id);
        payload.CopyTo(frame.AsSpan(9));
        return frame;
    }
}

/// <summary>
/// What came back on an HTTP/2 stream: the response status, if a response came, its body, the RST_STREAM error code if the
/// stream was reset, and whether the connection ended (GOAWAY, or closed) instead.
/// </summary>
internal sealed record H2Reply(int? Status, string Body, int? ResetCode, bool ConnectionEnded);
