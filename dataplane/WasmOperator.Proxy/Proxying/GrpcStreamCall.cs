using System.Buffers.Binary;
using System.Net;
using System.Threading.Channels;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// One streaming gRPC callout over HTTP/2: messages the plugin sends are framed and written to the
/// request body as they come (full duplex); each complete response frame is reported as a message,
/// then the trailers and the close with <c>grpc-status</c>. A cancel resets the stream and
/// reports nothing more. Events come from one background task, so they are in order. Messages the upstream has not taken
/// yet (HTTP/2 flow control holds them back) wait in a queue capped at the limit: one more resets the stream and closes it
/// with RESOURCE_EXHAUSTED, as Envoy's async client resets a stream over its buffer limit.
/// </summary>
internal sealed class GrpcStreamCall : IGrpcStream, IDisposable
{
    private readonly Channel<byte[]> _outgoing = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _reset = new();
    private readonly Lock _gate = new();
    private readonly IGrpcStreamEvents _events;
    private readonly MessageLimit _limit;
    private Action? _onEnded;
    private bool _cancelled;
    private bool _finished;
    // Bytes of frames sent and not yet written to the request body; _overflowed once they went over the limit.
    private long _queued;
    private bool _overflowed;

    private GrpcStreamCall(IGrpcStreamEvents events, MessageLimit limit) => (_events, _limit) = (events, limit);

    /// <param name="client">The client the call goes through.</param>
    /// <param name="message">The request, without content.</param>
    /// <param name="events">Where the stream's events go.</param>
    /// <param name="limit">The largest response message; a larger one resets the stream.</param>
    /// <param name="finished">Runs once when the call ended, however it ended.</param>
    public static GrpcStreamCall Start(HttpClient client, HttpRequestMessage message, IGrpcStreamEvents events, MessageLimit limit, Action? finished = null)
    {
        var call = new GrpcStreamCall(events, limit) { _onEnded = finished };
        message.Content = new OutgoingContent(call);
        message.Content.Headers.ContentType = CalloutClient.GrpcContentType;
        _ = Task.Run(() => call.RunAsync(client, message));
        return call;
    }

    public void Send(byte[] message, bool endOfStream)
    {
        var frame = GrpcFraming.Frame(message);
        if (Interlocked.Add(ref _queued, frame.Length) > _limit.Bytes)
        {
            Overflow();
            return;
        }

        _outgoing.Writer.TryWrite(frame);
        if (endOfStream)
        {
            _outgoing.Writer.TryComplete();
        }
    }

    public void Close() => _outgoing.Writer.TryComplete();

    public void Cancel()
    {
        lock (_gate)
        {
            // A reset, not a half-close: completing the outgoing frames here would let the request
            // end cleanly (END_STREAM) before the cancellation aborts it.
            _cancelled = true;
            if (!_finished)
            {
                _reset.Cancel();
            }
        }
    }

    /// <summary>The queue went over the limit: the stream is reset, and its close (RESOURCE_EXHAUSTED) reported once.</summary>
    private void Overflow()
    {
        lock (_gate)
        {
            if (_cancelled || _finished || _overflowed)
            {
                return;
            }

            _overflowed = true;
            _outgoing.Writer.TryComplete();
            _reset.Cancel();
        }
    }

    private async Task RunAsync(HttpClient client, HttpRequestMessage message)
    {
        using (message)
        {
            var answered = false;
            try
            {
                using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, _reset.Token).ConfigureAwait(false);
                answered = true;
                await OffIoThreadAsync().ConfigureAwait(false);
                var initial = CalloutClient.ToMap(response.Headers, response.Content.Headers);
                var trailersOnly = initial.Get("grpc-status") is not null;
                if (!trailersOnly)
                {
                    Report(e => e.OnInitialMetadata(initial));
                }

                await ReadMessagesAsync(response).ConfigureAwait(false);
                await OffIoThreadAsync().ConfigureAwait(false);
                var trailing = trailersOnly ? initial : new HeaderMap();
                if (!trailersOnly)
                {
                    CalloutClient.Copy(response.TrailingHeaders, trailing);
                }

                if (trailing.Count > 0)
                {
                    Report(e => e.OnTrailingMetadata(trailing));
                }

                var (status, statusMessage) = GrpcStatus.From(response, initial, trailersOnly ? new HeaderMap(0) : trailing);
                Report(e => e.OnClose(status, statusMessage));
            }
            catch (OperationCanceledException) when (_reset.IsCancellationRequested)
            {
                // The plugin cancelled: nothing more is delivered. Or its queue overflowed: that is reported.
                if (Volatile.Read(ref _overflowed))
                {
                    await OffIoThreadAsync().ConfigureAwait(false);
                    var ex = new CalloutResponseTooLargeException(_limit.Cluster, _limit.Bytes, sending: true);
                    _limit.TooLarge?.Invoke(ex);
                    CloseWithError(GrpcStatus.ResourceExhausted, $"gRPC stream to {message.RequestUri} reset: {ex.Message}");
                }
            }
            catch (CalloutResponseTooLargeException ex)
            {
                // The response is disposed unread: the stream is reset.
                await OffIoThreadAsync().ConfigureAwait(false);
                _limit.TooLarge?.Invoke(ex);
                CloseWithError(GrpcStatus.ResourceExhausted, $"gRPC stream to {message.RequestUri} reset: a message in the {ex.Message}");
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidOperationException)
            {
                await OffIoThreadAsync().ConfigureAwait(false);
                // As Envoy's AsyncStreamImpl: a failure before the response (the router's 503) is 14 (UNAVAILABLE), a reset after it
                // began (onReset) 13 (INTERNAL), which plugins do not take for "the server is down, retry or fail open".
                CloseWithError(answered ? GrpcStatus.Internal : GrpcStatus.Unavailable,
                    answered ? $"gRPC stream to {message.RequestUri} was reset: {ex.Message}" : $"gRPC stream to {message.RequestUri} failed: {ex.Message}");
            }
            finally
            {
                Dispose();
            }
        }
    }

    /// <summary>
    /// Ends the stream on an error as Envoy's <c>AsyncStreamImpl::streamError</c> does: empty trailing metadata
    /// (<c>proxy_on_grpc_receive_trailing_metadata</c> with none), then the close with its status.
    /// </summary>
    private void CloseWithError(int status, string message)
    {
        Report(e => e.OnTrailingMetadata(new HeaderMap(0)));
        Report(e => e.OnClose(status, message));
    }

    private async Task ReadMessagesAsync(HttpResponseMessage response)
    {
        var stream = await response.Content.ReadAsStreamAsync(_reset.Token).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var pending = new byte[16 * 1024];
            var length = 0;
            while (true)
            {
                if (length == pending.Length)
                {
                    Array.Resize(ref pending, pending.Length * 2);
                }

                var read = await stream.ReadAsync(pending.AsMemory(length), _reset.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                await OffIoThreadAsync().ConfigureAwait(false);
                length += read;
                var offset = 0;
                while (true)
                {
                    var rest = pending.AsSpan(offset, length - offset);
                    ThrowIfTooLarge(rest);
                    if (!GrpcFraming.TryRead(rest, out var payload, out var consumed))
                    {
                        break;
                    }

                    offset += consumed;
                    Report(e => e.OnMessage(payload));
                }

                pending.AsSpan(offset, length - offset).CopyTo(pending);
                length -= offset;
            }
        }
    }

    /// <summary>
    /// Throws <see cref="CalloutResponseTooLargeException"/> when the next message's prefix declares more than the limit:
    /// known before its bytes are buffered (or delivered, had they all come at once).
    /// </summary>
    private void ThrowIfTooLarge(ReadOnlySpan<byte> pending)
    {
        if (pending.Length >= GrpcFraming.PrefixSize && BinaryPrimitives.ReadUInt32BigEndian(pending[1..]) > (uint)_limit.Bytes)
        {
            throw new CalloutResponseTooLargeException(_limit.Cluster, _limit.Bytes);
        }
    }

    /// <summary>Events go into the VM (after its current call): never from a socket thread.</summary>
    private static async ValueTask OffIoThreadAsync()
    {
        if (SocketThreads.OnIoThread)
        {
            await Task.Yield();
        }
    }

    private void Report(Action<IGrpcStreamEvents> report)
    {
        lock (_gate)
        {
            if (_cancelled)
            {
                return;
            }
        }

        report(_events);
    }

    /// <summary>The largest response message of a stream to <paramref name="Cluster"/>, and who hears of a larger one.</summary>
    internal sealed record MessageLimit(string Cluster, int Bytes, Action<CalloutResponseTooLargeException>? TooLarge);

    public void Dispose()
    {
        lock (_gate)
        {
            if (_finished)
            {
                return;
            }

            _finished = true;
            _outgoing.Writer.TryComplete();
            _reset.Dispose();
        }

        _onEnded?.Invoke();
    }

    /// <summary>
    /// The request body: frames the plugin sent, written and flushed one by one until the local half-close. A frame leaves
    /// the queue's count once written, that is once HTTP/2 flow control let the upstream take it.
    /// </summary>
    private sealed class OutgoingContent(GrpcStreamCall call) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await foreach (var frame in call._outgoing.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                Interlocked.Add(ref call._queued, -frame.Length);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
