using System.Net;
using WasmOperator.Proxy.Forwarding;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// The body of a request YARP forwards over HTTP/2, which HttpClient can send more than once. HttpClient sends a request
/// again on another connection when the upstream refused its stream (RST_STREAM REFUSED_STREAM) or closed the connection
/// before it (GOAWAY past its stream) with no response begun, and copies its content again; YARP's content copies once
/// ("Stream was already consumed"), so that retry failed and the call got UNAVAILABLE, where Envoy retries it.
/// </summary>
/// <remarks>
/// YARP's copy of the client's body runs once, for all attempts, into a stream of this content's own: what it writes goes to
/// the attempt of the moment and is recorded (up to <see cref="ReplayLimit"/> bytes, until HttpClient's send returns). A later
/// attempt is given the recording first, then the copy goes on into it. When an attempt fails before its response, the copy
/// waits for the retry rather than fail, so YARP's accounting of its body copy (its error classes, its activity timer) sees
/// one copy; and the attempt's body waits too, since HttpClient takes a failed body for the request's own failure, which it
/// does not retry. Once HttpClient sends the request no more (<see cref="Settle"/>) the copy fails as it would have; if YARP
/// gives up first, it cancels the copy, which ends the wait.
/// </remarks>
internal sealed class ReplayableRequestContent : HttpContent
{
    /// <summary>
    /// The most of a body that a retry can send again (Envoy buffers up to its per_connection_buffer_limit_bytes, 1 MiB, for a
    /// retry). A gRPC unary call's body is far smaller; a request that sent more on the failed attempt is not retried.
    /// </summary>
    public const int ReplayLimit = 64 * 1024;

    private readonly HttpContent _inner;
    private readonly Action _retried;
    private readonly IUpstreamResponseObserver? _observer;
    private readonly CancellationTokenSource _copyCancel = new();
    private readonly Lock _sync = new();
    private Task? _copy;
    private byte[]? _sent;
    private int _sentLength;
    private bool _overflow;
    private bool _settled;
    private Attempt? _attempt;
    private bool _attemptLive;
    private bool _replaying;
    private Exception? _failure;
    private TaskCompletionSource? _waiter;

    /// <param name="inner">YARP's content, whose headers this one takes.</param>
    /// <param name="retried">Called when the request is sent again.</param>
    /// <param name="observer">The request's exchange, when plugins see it: counts the attempt (<c>upstream.request_attempt_count</c>).</param>
    public ReplayableRequestContent(HttpContent inner, Action retried, IUpstreamResponseObserver? observer)
    {
        _inner = inner;
        _retried = retried;
        _observer = observer;
        foreach (var header in inner.Headers.NonValidated)
        {
            Headers.TryAddWithoutValidation(header.Key, header.Value);
        }
    }

    /// <summary>
    /// Whether HttpClient began to send the body on some connection. It does so as soon as it queued the request's HEADERS
    /// there (without Expect: 100-continue): a request whose body never began never had a stream.
    /// </summary>
    public bool Started
    {
        get
        {
            lock (_sync)
            {
                return _attempt is not null;
            }
        }
    }

    /// <summary>
    /// HttpClient sends the request no more (its send returned a response, or failed). Stops recording; a copy waiting for a
    /// retry fails with what failed its attempt; a copy whose attempt ended stops reading the client, and the attempt ends.
    /// </summary>
    public void Settle()
    {
        TaskCompletionSource? waiter;
        Exception? failure;
        Attempt? ended;
        Task? copy;
        lock (_sync)
        {
            if (_settled)
            {
                return;
            }

            _settled = true;
            failure = _failure;
            copy = _copy;
            if (_replaying)
            {
                // The response came while the attempt that got it was given the recording: it ends that first.
                return;
            }

            _sent = null;
            waiter = _waiter;
            _waiter = null;
            ended = _attempt is { Dead: true } ? _attempt : null;
        }

        waiter?.TrySetException(failure ?? new IOException("The upstream stream ended before the request body was sent."));
        if (ended is null)
        {
            return;
        }

        if (copy is null || copy.IsCompleted)
        {
            ended.Finish(failure);
            return;
        }

        // As HttpClient's cancellation of the attempt would have done to YARP's copy. The attempt ends with the copy, not
        // before: its stream must outlive a write of the copy under way.
        _copyCancel.Cancel();
        copy.ContinueWith(static (_, state) => ((Attempt)state!).Finish(null), ended, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var attempt = new Attempt(this, stream);
        bool first;
        Attempt? previous;
        lock (_sync)
        {
            previous = _attempt;
            first = previous is null;
            if (!first && (_overflow || _settled))
            {
                throw new InvalidOperationException(
                    $"The request cannot be sent again on another upstream connection: more than {ReplayLimit} bytes of its body went on the one that failed, and are not kept.");
            }

            _attempt = attempt;
            _attemptLive = first;
            _replaying = !first;
        }

        using var registration = cancellationToken.Register(static state => ((Attempt)state!).End(null), attempt);
        if (first)
        {
            // Not the attempt's token: the copy outlives an attempt that a retry replaces (YARP links its own to it).
            _copy = _inner.CopyToAsync(new Relay(this), context, _copyCancel.Token);
        }
        else
        {
            // HttpClient waited on the response of the one before, not on its body, which ends now.
            previous!.Finish(_failure);
            Retried();
            try
            {
                await ReplayAsync(attempt, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (Fail(attempt, ex))
            {
                // Refused again, say: the body must not fail first (HttpClient would take that for the request's own
                // failure, and not retry); it ends with the next attempt or when HttpClient gives up.
                await attempt.Ended.Task.ConfigureAwait(false);
                throw;
            }
        }

        var copy = _copy!;
        if (!copy.IsCompleted)
        {
            await Task.WhenAny(copy, attempt.Ended.Task).ConfigureAwait(false);
            if (!copy.IsCompleted)
            {
                // The attempt failed; the copy goes on into the next one if HttpClient retries.
                await attempt.Ended.Task.ConfigureAwait(false);
            }
        }

        await copy.ConfigureAwait(false);
    }

    /// <summary>Counts a send of the request after its first.</summary>
    public void Retried()
    {
        _retried();
        _observer?.OnRetry();
    }

    /// <summary>Sends a new attempt what went on the failed ones, then lets the copy go on into it.</summary>
    private async Task ReplayAsync(Attempt attempt, CancellationToken cancellationToken)
    {
        var replayed = 0;
        TaskCompletionSource? waiter;
        while (true)
        {
            byte[]? sent;
            int length;
            lock (_sync)
            {
                if (_overflow)
                {
                    throw new InvalidOperationException(
                        $"The request cannot be sent again on another upstream connection: more than {ReplayLimit} bytes of its body went upstream, and are not kept.");
                }

                if (attempt.Dead)
                {
                    throw new OperationCanceledException("The upstream stream ended while the request body was sent again.");
                }

                if (replayed == _sentLength)
                {
                    // Everything the copy wrote is on this attempt: it writes here from now on.
                    _attemptLive = true;
                    _replaying = false;
                    if (_settled)
                    {
                        _sent = null;
                    }

                    waiter = _waiter;
                    _waiter = null;
                    break;
                }

                sent = _sent;
                length = _sentLength;
            }

            await attempt.Stream.WriteAsync(sent.AsMemory(replayed, length - replayed), cancellationToken).ConfigureAwait(false);
            replayed = length;
        }

        waiter?.TrySetResult();
        await attempt.Stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Keeps what goes upstream for a retry, until a response began or there is too much of it.</summary>
    private void Record(ReadOnlySpan<byte> bytes)
    {
        if ((_settled && !_replaying) || _overflow)
        {
            return;
        }

        var length = _sentLength + bytes.Length;
        if (length > ReplayLimit)
        {
            _overflow = true;
            _sent = null;
            return;
        }

        if (_sent is null || _sent.Length < length)
        {
            // A new array, never one a replay may still read from: appends leave what is there as it was.
            var grown = new byte[Math.Min(ReplayLimit, Math.Max(length, (_sent?.Length ?? 256) * 2))];
            _sent?.AsSpan(0, _sentLength).CopyTo(grown);
            _sent = grown;
        }

        bytes.CopyTo(_sent.AsSpan(_sentLength));
        _sentLength = length;
    }

    /// <summary>The attempt's stream, for the copy to write to, or null between attempts.</summary>
    private Attempt? Live()
    {
        lock (_sync)
        {
            return _attemptLive ? _attempt : null;
        }
    }

    /// <summary>
    /// Ends an attempt (its stream failed, or HttpClient cancelled it); true when a retry may follow. Its body goes on
    /// pending until the next attempt or <see cref="Settle"/>: HttpClient retries on the failure of the response it
    /// waits for, and would take a failed body for the request's own failure, which it does not retry.
    /// </summary>
    private bool Fail(Attempt attempt, Exception? failure)
    {
        bool current;
        bool settled;
        bool retryable;
        lock (_sync)
        {
            attempt.Dead = true;
            current = _attempt == attempt;
            if (current)
            {
                _attemptLive = false;
                _replaying = false;
                _failure = failure ?? _failure ?? new OperationCanceledException("The upstream stream ended before the request body was sent.");
            }

            settled = _settled;
            retryable = !_settled && !_overflow;
        }

        if (current && settled && failure is null)
        {
            // No retry will come: the copy, and with it the attempt, ends as HttpClient's cancellation would have ended it.
            _copyCancel.Cancel();
        }

        return retryable;
    }

    /// <summary>
    /// Waits, with the copy, for the next attempt to take over what it wrote; throws <paramref name="failure"/> (or the
    /// last attempt's) if none will.
    /// </summary>
    private async ValueTask WaitForNextAttemptAsync(Exception? failure, CancellationToken cancellationToken)
    {
        TaskCompletionSource waiter;
        lock (_sync)
        {
            if (_attemptLive)
            {
                // A new attempt took over, with what the copy wrote in its replay.
                return;
            }

            if ((_settled && !_replaying) || _overflow)
            {
                throw failure ?? _failure ?? new IOException("The upstream stream ended before the request body was sent.");
            }

            waiter = _waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        await waiter.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }

    protected override Task<Stream> CreateContentReadStreamAsync() =>
        throw new NotSupportedException("The request body is sent, never read.");

    /// <summary>One send of the request: the stream HttpClient gave it; ends when the stream fails or HttpClient cancels it.</summary>
    private sealed class Attempt(ReplayableRequestContent owner, Stream stream)
    {
        public Stream Stream { get; } = stream;

        /// <summary>Its stream failed or HttpClient cancelled it (guarded by the owner's lock).</summary>
        public bool Dead { get; set; }

        public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool End(Exception? failure) => owner.Fail(this, failure);

        public void Finish(Exception? failure)
        {
            if (failure is null or OperationCanceledException)
            {
                Ended.TrySetCanceled();
            }
            else
            {
                Ended.TrySetException(failure);
            }
        }
    }

    /// <summary>The stream YARP's copy writes to: on to the attempt of the moment, recorded for the next one.</summary>
    private sealed class Relay(ReplayableRequestContent owner) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Attempt? attempt;
            lock (owner._sync)
            {
                owner.Record(buffer.Span);
                attempt = owner._attemptLive ? owner._attempt : null;
            }

            if (attempt is null)
            {
                await owner.WaitForNextAttemptAsync(null, cancellationToken).ConfigureAwait(false);
                return;
            }

            try
            {
                await attempt.Stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && attempt.End(ex))
            {
                await owner.WaitForNextAttemptAsync(ex, cancellationToken).ConfigureAwait(false);
            }
        }

        public override async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (owner.Live() is not { } attempt)
            {
                // The next attempt flushes what it replays.
                await owner.WaitForNextAttemptAsync(null, cancellationToken).ConfigureAwait(false);
                return;
            }

            try
            {
                await attempt.Stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && attempt.End(ex))
            {
                await owner.WaitForNextAttemptAsync(ex, cancellationToken).ConfigureAwait(false);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("The request body is written asynchronously.");

        public override void Flush() => throw new NotSupportedException("The request body is written asynchronously.");

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
