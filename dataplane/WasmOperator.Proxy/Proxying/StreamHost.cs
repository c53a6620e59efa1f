using WasmOperator.Proxy.Chain;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// One plugin's view of one request. In ENFORCE mode it hands out the exchange's own maps and bodies;
/// in LOG_ONLY mode the exchange points it at copies before each callback. Signals that arrive from
/// outside a callback (callout completions, ticks) wake the direction waiting on <see cref="WaitAsync"/>.
/// </summary>
/// <remarks>
/// As Envoy keeps a decoder's and an encoder's iteration state apart, each direction has its own wait and its own
/// pending resume: the request may wait at the end of its body while the response waits at its head, and
/// <c>proxy_continue_stream(0)</c> and <c>(1)</c> each resume theirs. A reply, close or failure is the stream's: it wakes
/// whichever directions wait, or, if none does, waits to be taken once by the exchange, which a direction reading on
/// past a body this plugin holds is told of at once (<see cref="Exchange.WakeHeld"/>), and which applies a reply or close
/// at once in any case (<see cref="Exchange.StopFromOutside"/>).
/// </remarks>
internal sealed class StreamHost(Exchange exchange, ChainEntry entry) : IHttpStreamHost
{
    // What is pending, read without the lock on every callback: nearly always nothing.
    private const int RequestResumed = 1;
    private const int ResponseResumed = 2;
    private const int StopPending = 4;

    private readonly Lock _gate = new();
    private int _pending;
    private StreamSignal? _stop;
    private TaskCompletionSource<StreamSignal>? _requestWaiter;
    private TaskCompletionSource<StreamSignal>? _responseWaiter;

    // A LOG_ONLY plugin's proxy_set_property writes: read back by it alone. Touched only from the plugin's own
    // callbacks, which its VM runs one at a time.
    private Dictionary<string, byte[]>? _ownProperties;

    public ChainEntry Entry { get; } = entry;

    public HttpStream? Stream { get; set; }

    /// <summary>Failed open (or never loaded with FAIL_OPEN): later callbacks skip this plugin.</summary>
    public bool Skipped { get; set; }

    public bool Retried { get; set; }

    /// <summary>
    /// A LOG_ONLY plugin would have answered or closed the stream: an enforcing one would have ended it there, so what
    /// it would do after is not counted (it would have replied on every response chunk, say).
    /// </summary>
    public bool WouldHaveEnded { get; set; }

    /// <summary>The plugin's request headers callback ran: it sees the response (or the local reply) too.</summary>
    public bool RequestStarted { get; set; }

    public HeaderMap? RequestHeaders { get; set; }

    public HeaderMap? RequestTrailers { get; set; }

    public HeaderMap? ResponseHeaders { get; set; }

    public HeaderMap? ResponseTrailers { get; set; }

    public BodyBuffer? RequestBody { get; set; }

    public BodyBuffer? ResponseBody { get; set; }

    /// <summary>A LOG_ONLY plugin's own copy of the request body; its <see cref="LogOnlyBody.View"/> is <see cref="RequestBody"/>.</summary>
    public LogOnlyBody? LogOnlyRequestBody { get; set; }

    /// <summary>A LOG_ONLY plugin's own copy of the response body; its <see cref="LogOnlyBody.View"/> is <see cref="ResponseBody"/>.</summary>
    public LogOnlyBody? LogOnlyResponseBody { get; set; }

    /// <summary>The exchange's state lock: one for every plugin's view of it, LOG_ONLY copies included.</summary>
    public Lock? StateLock => exchange.StateLock;

    public HeaderMap? GetHeaderMap(MapType type) => type switch
    {
        MapType.RequestHeaders => RequestHeaders,
        MapType.RequestTrailers => RequestTrailers,
        MapType.ResponseHeaders => ResponseHeaders,
        MapType.ResponseTrailers => ResponseTrailers ?? exchange.TrailersCreatedAtEnd(this),
        _ => null,
    };

    public BodyBuffer? GetBody(BufferType type) => type switch
    {
        BufferType.RequestBody => RequestBody,
        BufferType.ResponseBody => ResponseBody,
        _ => null,
    };

    public bool TryGetProperty(string path, out byte[] value) => exchange.TryGetProperty(this, path, out value);

    public bool TrySetProperty(string path, ReadOnlySpan<byte> value)
    {
        if (!Entry.LogOnly)
        {
            return exchange.TrySetProperty(path, value);
        }

        // The exchange's filter state is read by every later plugin, enforcing ones too: a LOG_ONLY plugin's
        // writes stay its own.
        (_ownProperties ??= new Dictionary<string, byte[]>(StringComparer.Ordinal))[path] = value.ToArray();
        exchange.RecordLogOnly(this, "set_property");
        return true;
    }

    /// <summary>A property this (LOG_ONLY) plugin set itself.</summary>
    public bool TryGetOwnProperty(string path, out byte[] value)
    {
        if (_ownProperties is not null && _ownProperties.TryGetValue(path, out var own))
        {
            value = own;
            return true;
        }

        value = [];
        return false;
    }

    public void ContinueStream(StreamType type)
    {
        if (type is StreamType.HttpRequest or StreamType.HttpResponse)
        {
            Signal(type == StreamType.HttpRequest ? StreamSignal.ContinueRequest : StreamSignal.ContinueResponse);
        }
    }

    public void CloseStream(StreamType type) => Signal(StreamSignal.Close);

    public void SendLocalResponse(LocalResponse response) => Signal(new StreamSignal(StreamSignalKind.LocalResponse, response));

    public void OnPluginFailure(PluginFailure failure) => Signal(new StreamSignal(StreamSignalKind.Failed, null, failure));

    /// <summary>
    /// Forgets a resume of <paramref name="request"/>'s direction that arrived while it was not paused (Envoy's
    /// continueDecoding and continueEncoding are then no-ops): it must not resolve a later, unrelated pause of that
    /// direction. Called before each of its callbacks.
    /// </summary>
    public void DropStaleContinue(bool request)
    {
        var resumed = Resumed(request);
        if ((Volatile.Read(ref _pending) & resumed) == 0)
        {
            return; // the usual case, once per callback: no lock
        }

        lock (_gate)
        {
            _pending &= ~resumed;
        }
    }

    /// <summary>
    /// A reply or close the plugin made while nothing waited (<c>proxy_close_stream</c> inside a callback runs
    /// after it, a callout's answer after the stream went on): it takes effect at the next point the exchange
    /// looks, taken once.
    /// </summary>
    public StreamSignal? TakeStop()
    {
        if ((Volatile.Read(ref _pending) & StopPending) == 0)
        {
            return null;
        }

        lock (_gate)
        {
            if (_stop is { Kind: StreamSignalKind.Close or StreamSignalKind.LocalResponse } stop)
            {
                _stop = null;
                _pending &= ~StopPending;
                return stop;
            }

            return null;
        }
    }

    /// <summary>
    /// A signal for <paramref name="request"/>'s direction that arrived while it did not wait (the plugin held a body
    /// and answered later), or the stream's stop; taken once.
    /// </summary>
    public StreamSignal? TakeSignal(bool request)
    {
        if ((Volatile.Read(ref _pending) & (StopPending | Resumed(request))) == 0)
        {
            return null;
        }

        lock (_gate)
        {
            return TakePendingFor(request);
        }
    }

    /// <summary>
    /// True when a signal for <paramref name="request"/>'s direction or the stream's stop waits to be taken
    /// (<see cref="TakeSignal"/>); nothing is taken.
    /// </summary>
    public bool HasSignal(bool request) => (Volatile.Read(ref _pending) & (StopPending | Resumed(request))) != 0;

    /// <summary>Waits for the plugin to resume this direction, or to answer, close or fail the stream.</summary>
    public async Task<StreamSignal> WaitAsync(bool request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        TaskCompletionSource<StreamSignal> waiter;
        lock (_gate)
        {
            if (TakePendingFor(request) is { } pending)
            {
                return pending;
            }

            waiter = new TaskCompletionSource<StreamSignal>(TaskCreationOptions.RunContinuationsAsynchronously);
            WaiterOf(request) = waiter;
        }

        try
        {
            return await waiter.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return StreamSignal.TimedOut;
        }
        finally
        {
            lock (_gate)
            {
                ref var slot = ref WaiterOf(request);
                if (slot == waiter)
                {
                    slot = null;
                }
            }
        }
    }

    /// <summary>
    /// The exchange stopped the stream itself (a callback answered or closed it, on the other direction's side): a
    /// direction waiting here is done waiting. A wait that starts later is the exchange's own (a local reply's callbacks).
    /// </summary>
    public void EndWaits()
    {
        TaskCompletionSource<StreamSignal>? request, response;
        lock (_gate)
        {
            (request, response) = (_requestWaiter, _responseWaiter);
            (_requestWaiter, _responseWaiter) = (null, null);
        }

        request?.TrySetResult(StreamSignal.Ended);
        response?.TrySetResult(StreamSignal.Ended);
    }

    private static int Resumed(bool request) => request ? RequestResumed : ResponseResumed;

    /// <summary>The wait slot of <paramref name="request"/>'s direction (caller holds the gate).</summary>
    private ref TaskCompletionSource<StreamSignal>? WaiterOf(bool request) => ref request ? ref _requestWaiter : ref _responseWaiter;

    /// <summary>The stream's stop, else a resume of <paramref name="request"/>'s direction, taken (caller holds the gate).</summary>
    private StreamSignal? TakePendingFor(bool request)
    {
        if (_stop is { } stop)
        {
            _stop = null;
            _pending &= ~StopPending;
            return stop;
        }

        var resumed = Resumed(request);
        if ((_pending & resumed) == 0)
        {
            return null;
        }

        _pending &= ~resumed;
        return request ? StreamSignal.ContinueRequest : StreamSignal.ContinueResponse;
    }

    private void Signal(StreamSignal signal)
    {
        if (Entry.LogOnly)
        {
            // What an enforcing plugin would have done to the stream; a resume changes nothing and a
            // failure is counted as such.
            var action = signal.Kind switch
            {
                StreamSignalKind.LocalResponse => "local_response",
                StreamSignalKind.Close => "close_stream",
                _ => null,
            };
            if (action is not null)
            {
                exchange.RecordLogOnly(this, action);
            }

            return;
        }

        TaskCompletionSource<StreamSignal>? first, second = null;
        lock (_gate)
        {
            if (signal is { Kind: StreamSignalKind.Continue, Request: { } request })
            {
                // Resumes its own direction only: kept if that one has not reached its wait yet (or holds a body).
                ref var slot = ref WaiterOf(request);
                first = slot;
                slot = null;
                if (first is null)
                {
                    _pending |= Resumed(request);
                }
            }
            else
            {
                // The stream's end: every direction that waits learns of it; the exchange applies it once.
                (first, second) = (_requestWaiter, _responseWaiter);
                (_requestWaiter, _responseWaiter) = (null, null);
                if (first is null && second is null)
                {
                    // The first stop stands: the stream ends once.
                    _stop ??= signal;
                    _pending |= StopPending;
                }
            }
        }

        if (first is null && second is null)
        {
            // Kept for the exchange: a direction reading on while this plugin holds part of its body takes it now, and a
            // reply or close is applied at once whatever the stream waits on (the client's or the upstream's next bytes).
            exchange.WakeHeld(signal.Request);
            if (signal.Kind is StreamSignalKind.LocalResponse or StreamSignalKind.Close)
            {
                exchange.StopFromOutside();
            }

            return;
        }

        first?.TrySetResult(signal);
        second?.TrySetResult(signal);
    }
}
