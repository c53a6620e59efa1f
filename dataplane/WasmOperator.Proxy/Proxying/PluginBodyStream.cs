using WasmOperator.Proxy.Forwarding;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// The request body forwarded once streaming started (by YARP or the HTTP/1.1 forwarder): each chunk read
/// from the client runs through the plugins' body callbacks and what leaves the chain is handed on. The client's body is
/// read through Kestrel's reader (<see cref="ClientBodyReader"/>): a token the forwarding passes, or a stop, ends a read
/// there without leaving the body mid-read.
/// </summary>
internal sealed class PluginBodyStream(Exchange exchange, long? declared, long alreadyRead, byte[] first) : Stream
{
    private const string Stopped = "the stream stopped while the request body was streaming";

    // A read the exchange started while a plugin held part of the body may still be filling its buffer: reads go on there.
    private readonly byte[] _chunk = exchange.RequestRead?.Buffer ?? new byte[16 * 1024];
    private byte[] _pending = first;
    private int _offset;
    private long _read = alreadyRead;
    private bool _ended;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_offset >= _pending.Length)
        {
            if (_ended)
            {
                return 0;
            }

            int read;
            var whole = false;
            try
            {
                if (exchange.RequestRead is { Reading: true } || exchange.Holds(request: true))
                {
                    // A plugin holds part of the body: what it decides meanwhile (a callout's answer) is not left waiting for
                    // the client's next bytes. A read under way at a release is kept for the next call (or ended with the request).
                    var next = await exchange.HeldRequestRead(_chunk, cancellationToken).NextAsync(_chunk.Length).ConfigureAwait(false);
                    if (next.IsStopped)
                    {
                        throw new IOException(Stopped);
                    }

                    if (next.Released is { } released)
                    {
                        _pending = released;
                        _offset = 0;
                        continue;
                    }

                    read = next.Read;
                }
                else
                {
                    read = await ClientBodyReader.ReadAsync(exchange.RequestReader, _chunk, cancellationToken).ConfigureAwait(false);
                    // Over HTTP/2 the body ends with the stream, not at its content-length (trailers may follow). Once the
                    // declared length is here the stream's end is too, on this DATA frame or right after it: waited for, so
                    // that the last bytes reach the plugins with end_of_stream, as Envoy hands on a DATA frame that carries
                    // END_STREAM, instead of an empty callback after them (a plugin acting on the whole body at its end,
                    // without holding it, saw nothing there).
                    whole = read > 0 && declared is { } length && _read + read >= length && !exchange.RequestEndsAtDeclaredLength &&
                        await ClientBodyReader.EndsHereAsync(exchange.RequestReader, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (exchange.Interrupted)
            {
                // A plugin answered or closed the stream from outside a callback while the client sent nothing (StopFromOutside).
                throw new IOException(Stopped);
            }

            // A chunk a plugin holds is activity all the same: YARP, which never sees it, does not time a gRPC call.
            exchange.StreamActive();
            if (exchange.MustLeaveIoThread)
            {
                // YARP reads this stream right after an upstream write that may have completed inline.
                await Task.Yield();
            }

            _read += read;
            _ended = read == 0 || whole || (declared is { } d && _read >= d && exchange.RequestEndsAtDeclaredLength);
            exchange.RequestComplete = _ended;
            var output = await exchange.PushRequestChunkAsync(_chunk.AsSpan(0, read).ToArray(), _ended).ConfigureAwait(false);
            if (output is null)
            {
                // A plugin answered or closed (on either direction's side), or held more than the buffer limit (413).
                throw new IOException(Stopped);
            }

            _pending = output;
            _offset = 0;
        }

        var count = Math.Min(buffer.Length, _pending.Length - _offset);
        _pending.AsMemory(_offset, count).CopyTo(buffer);
        _offset += count;
        exchange.RequestBytes += count;
        return count;
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
