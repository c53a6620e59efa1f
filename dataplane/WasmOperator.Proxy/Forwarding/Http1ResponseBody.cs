using System.Buffers.Text;
using System.Text;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// The decoded body of an upstream response, read straight from the connection's buffer:
/// content-length, chunked (with trailers) or until close. <see cref="NextAsync"/> hands out slices of
/// the connection buffer without copying; the <see cref="Stream"/> view copies, for code that wants a stream.
/// </summary>
/// <param name="activityTimeoutMs">
/// How long the upstream may move no byte: each read through the <see cref="Stream"/> view (the plugins' exchange
/// reads the body that way) moves the connection's deadline on by it. The forwarder's own copy loop moves it itself.
/// </param>
internal sealed class Http1ResponseBody(Http1Connection connection, BodyFraming framing, long? contentLength, int maxTrailerBytes, long activityTimeoutMs) : Stream
{
    private const int MaxChunkLine = 4096;
    private long _remaining = Remaining(framing, contentLength);
    private State _state = Start(framing, contentLength);
    private List<KeyValuePair<string, string>>? _trailers;

    /// <summary>
    /// Sets a body the forwarder finished with (nothing else held it: no plugin read it) to read the connection's next
    /// response, as a new one would: the path without plugins allocates none per response. The trailer limit and the
    /// activity timeout are the forwarder's, as they were.
    /// </summary>
    public Http1ResponseBody Restart(BodyFraming nextFraming, long? nextContentLength)
    {
        framing = nextFraming;
        _remaining = Remaining(nextFraming, nextContentLength);
        _state = Start(nextFraming, nextContentLength);
        _trailers = null;
        return this;
    }

    private static long Remaining(BodyFraming framing, long? contentLength) => framing == BodyFraming.ContentLength ? contentLength ?? 0 : 0;

    private static State Start(BodyFraming framing, long? contentLength) => framing switch
    {
        BodyFraming.None => State.Done,
        BodyFraming.ContentLength when contentLength == 0 => State.Done,
        BodyFraming.Chunked => State.ChunkSize,
        _ => State.Data,
    };

    private enum State
    {
        ChunkSize,
        Data,
        DataEnd,
        Trailers,
        Done,
    }

    /// <summary>True once the body was read to its end (the connection may then be reused).</summary>
    public bool Completed => _state == State.Done;

    /// <summary>Trailer fields of a chunked body, available after <see cref="Completed"/>; those no trailer may pass on (<see cref="TrailerFields"/>) dropped.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Trailers => _trailers ?? (IReadOnlyList<KeyValuePair<string, string>>)[];

    /// <summary>The next piece of the body (valid until the next call); empty at the end.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> NextAsync(int max, CancellationToken cancellationToken)
    {
        while (true)
        {
            switch (_state)
            {
                case State.Done:
                    return ReadOnlyMemory<byte>.Empty;
                case State.ChunkSize:
                    await ReadChunkSizeAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                case State.DataEnd:
                    await ExpectAsync(cancellationToken).ConfigureAwait(false);
                    _state = State.ChunkSize;
                    continue;
                case State.Trailers:
                    await ReadTrailersAsync(cancellationToken).ConfigureAwait(false);
                    continue;
            }

            if (connection.BufferedCount == 0 && await connection.FillAsync(Http1Connection.BufferSize, cancellationToken).ConfigureAwait(false) == 0)
            {
                if (framing == BodyFraming.UntilClose)
                {
                    _state = State.Done;
                    return ReadOnlyMemory<byte>.Empty;
                }

                throw new UpstreamProtocolException("upstream closed the connection in the middle of the response body");
            }

            var available = connection.BufferedCount;
            var take = framing == BodyFraming.UntilClose ? Math.Min(available, max) : (int)Math.Min(Math.Min(available, max), _remaining);
            var slice = connection.BufferedMemory[..take];
            connection.Consume(take);
            if (framing != BodyFraming.UntilClose)
            {
                _remaining -= take;
                if (_remaining == 0)
                {
                    _state = framing == BodyFraming.Chunked ? State.DataEnd : State.Done;
                }
            }

            return slice;
        }
    }

    /// <summary>
    /// The next line of the chunked framing, without its CRLF. Unlike a head's lines these must end in CRLF (RFC 9112
    /// §7.1): a bare LF or CR in one is refused at once, never waited past or taken as a line end either side may read differently.
    /// </summary>
    private async ValueTask<ReadOnlyMemory<byte>> LineAsync(int maxLine, CancellationToken cancellationToken)
    {
        while (true)
        {
            var buffered = connection.BufferedMemory;
            var end = buffered.Span.IndexOf((byte)'\n');
            if (end >= 0)
            {
                var line = buffered[..end];
                if (end == 0 || line.Span[^1] != (byte)'\r' || line.Span[..^1].Contains((byte)'\r'))
                {
                    throw new UpstreamProtocolException("chunked response: a line not ended by CRLF, or with a bare CR");
                }

                connection.Consume(end + 1);
                return line[..^1];
            }

            if (buffered.Length > maxLine)
            {
                throw new UpstreamProtocolException("chunked response: line too long");
            }

            if (await connection.FillAsync(Math.Max(Http1Connection.BufferSize, maxLine * 2), cancellationToken).ConfigureAwait(false) == 0)
            {
                throw new UpstreamProtocolException("upstream closed the connection in the middle of a chunked body");
            }
        }
    }

    private async ValueTask ReadChunkSizeAsync(CancellationToken cancellationToken)
    {
        var line = (await LineAsync(MaxChunkLine, cancellationToken).ConfigureAwait(false)).Span;
        var semicolon = line.IndexOf((byte)';');
        var digits = (semicolon < 0 ? line : line[..semicolon]).TrimEnd(" \t"u8);
        if (digits.IsEmpty || digits.Length > 15 || !Utf8Parser.TryParse(digits, out long size, out var consumed, 'X') || consumed != digits.Length)
        {
            throw new UpstreamProtocolException("chunked response: invalid chunk size");
        }

        _remaining = size;
        _state = size == 0 ? State.Trailers : State.Data;
    }

    private async ValueTask ExpectAsync(CancellationToken cancellationToken)
    {
        var line = await LineAsync(2, cancellationToken).ConfigureAwait(false);
        if (!line.IsEmpty)
        {
            throw new UpstreamProtocolException("chunked response: chunk data longer than its size");
        }
    }

    private async ValueTask ReadTrailersAsync(CancellationToken cancellationToken)
    {
        var total = 0;
        while (true)
        {
            var line = await LineAsync(maxTrailerBytes, cancellationToken).ConfigureAwait(false);
            if (line.IsEmpty)
            {
                _state = State.Done;
                return;
            }

            total += line.Length;
            var span = line.Span;
            var colon = span.IndexOf((byte)':');
            if (total > maxTrailerBytes || colon <= 0 || !Http1ResponseHead.IsToken(span[..colon]))
            {
                throw new UpstreamProtocolException("chunked response: malformed or oversized trailer section");
            }

            var name = Encoding.ASCII.GetString(span[..colon]);
            var value = span[(colon + 1)..].Trim(" \t"u8);
            if (value.IndexOfAny(Http1ResponseHead.NotInFieldValue) >= 0)
            {
                // As in a head: Kestrel would fail the stream while writing it, and a plugin would read it.
                throw new UpstreamProtocolException($"chunked response: invalid character in response trailer '{name}'");
            }

            if (!TrailerFields.IsForbidden(name))
            {
                (_trailers ??= []).Add(new(name, Encoding.Latin1.GetString(value)));
            }
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        var next = await NextAsync(buffer.Length, cancellationToken).ConfigureAwait(false);
        if (!next.IsEmpty)
        {
            // Progress: the pool's sweep must not take a long, still moving response for a stalled one.
            connection.Deadline = Environment.TickCount64 + activityTimeoutMs;
        }

        next.CopyTo(buffer);
        return next.Length;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
