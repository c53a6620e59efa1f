using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using WasmOperator.Proxy.Forwarding;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// A reply or close a plugin makes from outside a callback (a callout's answer, a tick) while neither direction waits on
/// it: as Envoy's sendLocalReply and resetStream act from any context, it is applied at once, and the I/O the stream
/// still waits on (the client's next body bytes, the upstream's answer or its next bytes) is interrupted, so the reply
/// or the reset goes out then, not when a peer sends more. Nothing is armed per chunk: the client's body read is ended
/// through Kestrel's reader (<see cref="PipeReader.CancelPendingRead"/>), the fast path's connection in flight is
/// aborted, YARP's forwarding is cancelled through the token it was given (a timer's, or an upgrade's stop token), and
/// an upgraded stream (a WebSocket) is reset.
/// </summary>
internal sealed partial class Exchange
{
    // Kestrel's reader of the client's body, taken before the plugins' body stream replaces request.Body: every read of
    // the client's body goes through it (ClientBodyReader), so a cancelled one leaves the body drainable.
    private readonly PipeReader _requestReader;

    /// <summary>Kestrel's reader of the client's body, which the exchange's reads of it go through (<see cref="ClientBodyReader"/>).</summary>
    public PipeReader RequestReader => _requestReader;

    // Where the interruption is (Live, Interrupting, InterruptDone), or Over once the exchange completed without one.
    private const int Live = 0, Interrupting = 1, InterruptDone = 2, Over = 3;
    private int _phase;

    // Held by the one Interrupt while it cancels the client's body read (made only then): Complete waits for it.
    private Lock? _interrupting;

    // The fast path's connection while its request is in flight; whoever takes it out (the forwarder done with it, or
    // Interrupt) owns it, so a connection back in the pool is never aborted.
    private Http1Connection? _inFlight;

    // The response ended (read whole, or it had no body): a stop that comes later has nothing to act on.
    private volatile bool _responseEnded;

    // The plugins let the upstream's 101 through (under the turn): YARP relays the upgraded stream, which a stop resets.
    private volatile bool _upgraded;

    // The token YARP forwards an upgrade under (StopToken): a stop cancels it, and once upgraded the stream idle timer
    // (TimeUpgradedStream).
    private CancellationTokenSource? _stopUpgrade;

    // The stream idle timer (_idle) is _stopUpgrade's: the upgraded stream is timed by the exchange, not YARP.
    private volatile bool _timesUpgrade;

    /// <summary>True once a stop made from outside a callback interrupted the stream's I/O.</summary>
    public bool Interrupted => Volatile.Read(ref _phase) is Interrupting or InterruptDone;

    /// <summary>
    /// A plugin answered or closed the stream from outside a callback and no direction waited on it (the stop was kept
    /// for the exchange): it is applied and the stream's I/O interrupted, on a pool thread, not on the one that let the
    /// plugin's VM go (what the interruption wakes must not run there). A close made inside a callback comes here too:
    /// the callback's step has taken it by then, and what is left is to interrupt the I/O.
    /// </summary>
    public void StopFromOutside() =>
        ThreadPool.UnsafeQueueUserWorkItem(static exchange => _ = exchange.ApplyStopFromOutsideAsync(), this, preferLocal: false);

    /// <summary>
    /// Nobody awaits this (the plugin that stopped the stream has moved on): what fails here is logged, not left to
    /// become an unobserved task exception. The stream ends all the same, on its own I/O or the client's.
    /// </summary>
    private async Task ApplyStopFromOutsideAsync()
    {
        try
        {
            await TakeStopAndInterruptAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            LogStopFailed(_log, ex.ToString());
        }
    }

    private async Task TakeStopAndInterruptAsync()
    {
        if (Volatile.Read(ref _completed) != 0)
        {
            return;
        }

        await _turn.WaitAsync().ConfigureAwait(false);
        try
        {
            // A direction may have taken the stop meanwhile, at a step of its own.
            for (var n = 0; n < _hosts.Length && !Stopped && !_responseEnded; n++)
            {
                var host = _hosts[n];
                if (!host.Skipped && host.Stream is { Failure: null } && host.TakeStop() is { } stop)
                {
                    if (stop.Kind == StreamSignalKind.Close)
                    {
                        Closed = true;
                    }
                    else
                    {
                        Reply = stop.Reply;
                        _replyByPlugin = true;
                    }
                }
            }
        }
        finally
        {
            // The stop ends the waits of both directions (and wakes one reading on past a held body).
            ReleaseTurn();
        }

        if (Stopped)
        {
            Interrupt();
        }
    }

    /// <summary>
    /// Ends the I/O a stopped stream still waits on; the step waiting on it fails and sends the reply (or resets the
    /// stream once the response started): a read of the client's body, the fast path's exchange with the upstream,
    /// YARP's forwarding (an upgrade's too, while it waits for the upstream's 101). The upstream request is cancelled
    /// either way, as Envoy resets it. An upgraded stream has no step left to fail: it is reset here.
    /// </summary>
    private void Interrupt()
    {
        var gate = new Lock();
        using (gate.EnterScope())
        {
            // Once: a second stop (another plugin's) finds the first one's interruption. The gate is in place before the
            // phase says Interrupting, which is a full fence, as are the exchanges of _inFlight, _idle and _stopUpgrade
            // where the forwarding starts: one side sees the other.
            if (Interlocked.CompareExchange(ref _interrupting, gate, null) is not null ||
                Interlocked.CompareExchange(ref _phase, Interrupting, Live) != Live)
            {
                return;
            }

            if (!RequestComplete)
            {
                try
                {
                    // Unlike a cancelled token, this leaves Kestrel able to drain the rest of the body after the reply. What
                    // the read's failure runs may run here, up to this request's Complete (the lock lets this thread in).
                    _requestReader.CancelPendingRead();
                }
                catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
                {
                    // The request's body is over: nothing waits on it.
                }
            }

            if (_upgraded)
            {
                // After the 101 a reply or close can only be a reset, as in Envoy (HTTP/1.1: the connection closes; h2:
                // RST_STREAM). YARP's copy of the client's bytes fails on it, or its token, linked to RequestAborted, is
                // cancelled: YARP then ends the other copy too and closes its connection to the upstream. Under the gate:
                // Kestrel reuses the context once the exchange completed.
                NoteReplyReset();
                Context.Abort();
            }

            Volatile.Write(ref _phase, InterruptDone);
        }

        Interlocked.Exchange(ref _inFlight, null)?.Abort(timedOut: false);
        CancelForwarding(Volatile.Read(ref _idle));
        CancelForwarding(Volatile.Read(ref _stopUpgrade));
    }

    /// <summary>
    /// The token YARP forwards an upgrade (a WebSocket over HTTP/1.1 or h2c's extended CONNECT, a CONNECT) under: a stop
    /// made from outside a callback cancels it, so one made while the upstream has not answered yet cancels the upstream
    /// request and the reply goes out at once, not when the 101 comes or at the upstream timeout. Until the 101 the wait
    /// is timed by <see cref="UpgradeResponseTimeout"/>; after it, by the stream idle timer on this token
    /// (<see cref="TimeUpgradedStream"/>). Once upgraded, the stop resets the stream (<see cref="Interrupt"/>) and this
    /// ends YARP's copies too. Called once, before forwarding.
    /// </summary>
    public CancellationToken StopToken()
    {
        var stop = new CancellationTokenSource();
        // A full fence, as is Interrupt's: a stop made before the forwarding starts cancels it from the start.
        Interlocked.Exchange(ref _stopUpgrade, stop);
        if (Interrupted)
        {
            CancelForwarding(stop);
        }

        return stop.Token;
    }

    /// <summary>
    /// Starts the stream idle timer (Envoy's <c>stream_idle_timeout</c>) of a request forwarded as an upgrade once its
    /// answer came (the upgraded stream after a 101, or another answer's body, which would otherwise have no timer), on
    /// <see cref="StopToken"/>'s token: cancelled when no byte moved either way for
    /// <see cref="Configuration.ProxyOptions.StreamIdleTimeout"/>, each chunk either side of <see cref="PluginUpgradedStream"/> reads
    /// counting (<see cref="StreamActive"/>), a chunk a plugin holds too. YARP's activity timer, which timed it before,
    /// sees only what leaves the plugins: a WebSocket whose client's messages a plugin held was closed as idle.
    /// </summary>
    public void TimeUpgradedStream()
    {
        if (Volatile.Read(ref _stopUpgrade) is not { } stop)
        {
            return;
        }

        _idleAfter = _options.StreamIdleTimeout;
        _timesUpgrade = true;
        // Published after _idleAfter: StreamActive on the other direction's read reads both.
        Interlocked.Exchange(ref _idle, stop);
        stop.CancelAfter(_idleAfter);
    }

    /// <summary>True once the stream idle timer of <see cref="TimeUpgradedStream"/> fired on an upgraded stream (or a stop cancelled its token: see <see cref="IsStopped"/>).</summary>
    public bool UpgradedStreamIdleTimedOut => _timesUpgrade && _upgraded && Volatile.Read(ref _idle)?.IsCancellationRequested == true;

    /// <summary>
    /// No interruption starts once the exchange completes, and one cancelling the client's body read ends first: Kestrel
    /// hands this request's body reader on to the connection's next request, whose reads a late cancel would fail.
    /// </summary>
    private void EndInterrupts()
    {
        if (Interlocked.CompareExchange(ref _phase, Over, Live) == Interrupting)
        {
            using (Volatile.Read(ref _interrupting)!.EnterScope())
            {
            }
        }
    }

    /// <summary>Cancels YARP's forwarding through the token it was given (<see cref="TimeUpstream"/>, <see cref="StreamIdleToken"/>, <see cref="StopToken"/>).</summary>
    private static void CancelForwarding(CancellationTokenSource? timer)
    {
        try
        {
            timer?.Cancel();
        }
        catch (AggregateException)
        {
            // A callback of the forwarding failed on its cancellation: the forwarding ends all the same.
        }
    }

    /// <summary>The fast path's connection for this request (told again when a stale pooled one is replaced): aborted at once if the stream was interrupted.</summary>
    private void ForwardingOn(Http1Connection connection)
    {
        Interlocked.Exchange(ref _inFlight, connection);
        if (Interrupted)
        {
            Interlocked.Exchange(ref _inFlight, null)?.Abort(timedOut: false);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "a plugin's stop from outside a callback was not applied to its stream's I/O: {Failure}")]
    private static partial void LogStopFailed(ILogger logger, string failure);

    /// <summary>The forwarder is done with its connection: false when <see cref="Interrupt"/> took (and aborted) it, which must then not be reused.</summary>
    bool IUpstreamResponseObserver.EndUpstreamConnection() => Interlocked.Exchange(ref _inFlight, null) is not null;
}
