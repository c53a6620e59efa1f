using System.Diagnostics;
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
/// A LOG_ONLY plugin's pause holds nothing, so its exchange may complete before the plugin decides (a callout slower than
/// the upstream): its stream context then lingers (<see cref="Linger"/>) until the plugin resumes, answers, closes or
/// fails the stream, or until the pause timeout an enforcing pause would have hit, so that late decision is counted.
/// </remarks>
internal sealed class StreamHost(Exchange exchange, ChainEntry entry) : IHttpStreamHost
{
    // What is pending, read without the lock on every callback: nearly always nothing.
    private const int RequestResumed = 1;
    private const int ResponseResumed = 2;
    private const int StopPending = 4;

    // A LOG_ONLY plugin's pauses not resumed yet, per direction: at the headers or trailers (resumed only by
    // proxy_continue_stream) and on the body (also by a later body callback that lets it go).
    private const int RequestHeld = 1;
    private const int ResponseHeld = 2;
    private const int RequestBodyHeld = 4;
    private const int ResponseBodyHeld = 8;

    private readonly Lock _gate = new();
    private int _pending;
    private StreamSignal? _stop;
    private TaskCompletionSource<StreamSignal>? _requestWaiter;
    private TaskCompletionSource<StreamSignal>? _responseWaiter;

    // A LOG_ONLY plugin's proxy_set_property writes: read back by it alone. Touched only from the plugin's own
    // callbacks, which its VM runs one at a time.
    private Dictionary<string, byte[]>? _ownProperties;

    // A LOG_ONLY plugin's pauses (flags above) and, per direction, when the wait an enforcing plugin's would be timed from
    // began (0: none is timed): a headers or trailers pause at once, a body only from its end, as an enforcing plugin
    // buffering a body is timed only once it waits at the end (its mid-body pauses hold chunks, not the stream). The
    // header map each direction paused on with its version then, to tell the edits made before it resumed; once its
    // exchange completed with a pause left, the timer that ends the linger. Under _gate.
    private int _held;
    private long _requestHeldSince;
    private long _responseHeldSince;
    private HeaderMap? _requestHeldMap;
    private int _requestHeldVersion;
    private HeaderMap? _responseHeldMap;
    private int _responseHeldVersion;
    private ITimer? _linger;

    // The plugin a linger keeps loaded until the context completes (Linger, EndLinger).
    private Chain.LoadedPlugin? _lingerHolds;

    // A LOG_ONLY plugin's request-headers pause not resolved yet (_defers): the stream's later callbacks for it wait in
    // _deferred, as an enforcing plugin's stream would have waited, until a resume hands them to the exchange's drain
    // (_draining, which callbacks that come meanwhile queue behind), or a reply, close, failure or the pause timeout drops
    // them. _completeAfterDrain: the exchange completed during the drain, which completes the context then. Written
    // under _gate; the flags are read without it on each of the plugin's callbacks.
    private volatile bool _defers;
    private volatile bool _draining;
    private bool _completeAfterDrain;
    private List<DeferredCallback>? _deferred;

    // The plugin's stream is over for it: its pause reached the pause timeout before it decided (PauseTimedOut), as the
    // enforcing twin's got the 503 there, or it answered, closed or failed the stream from outside a callback (a callout's
    // answer), where that twin's stream ended. A later decision, the callbacks that waited and those still to come come to
    // nothing (EndStream). Under _gate; read without it by the body callbacks that check whether to keep a chunk.
    private volatile bool _over;

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
        MapType.RequestTrailers => RequestTrailers ?? exchange.TrailersCreatedAtEnd(this, request: true),
        MapType.ResponseHeaders => ResponseHeaders,
        MapType.ResponseTrailers => ResponseTrailers ?? exchange.TrailersCreatedAtEnd(this, request: false),
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

    /// <summary>True when this LOG_ONLY plugin paused where an enforcing one would still hold the stream.</summary>
    public bool LogOnlyPauses => Volatile.Read(ref _held) != 0;

    /// <summary>
    /// True while this LOG_ONLY plugin's callbacks wait for its request-headers pause to be resolved, or for the ones
    /// that waited to be delivered (<see cref="TryDefer"/>).
    /// </summary>
    public bool DefersCallbacks => _defers || _draining;

    /// <summary>
    /// This LOG_ONLY plugin's pause timed out before it decided, or it answered, closed or failed the stream from outside a
    /// callback: it gets nothing more of the stream but its end (<see cref="TryDefer"/>).
    /// </summary>
    public bool PauseEnded => _over;

    /// <summary>
    /// Keeps a callback for later when this LOG_ONLY plugin's request-headers pause is unresolved, or the callbacks kept
    /// are still being delivered: false when it runs now. A body callback joins the one of its body that waits, if any (its
    /// bytes joined the plugin's copy), as Envoy delivers a body buffered behind a stopped filter in one call. Called
    /// under the exchange's turn, which the delivery holds too.
    /// </summary>
    public bool TryDefer(Exchange.Phase phase, bool endOfStream, HeaderMap? map)
    {
        lock (_gate)
        {
            if (!_defers && !_draining)
            {
                return false;
            }

            if (_over)
            {
                // Its enforcing twin's stream ended there (the 503 at the timeout, its reply, close or failure): nothing
                // more of it comes to the plugin.
                return true;
            }

            if (_draining || !PauseTimedOut())
            {
                var deferred = _deferred ??= new List<DeferredCallback>(4);
                var callback = new DeferredCallback(phase, endOfStream, map);
                if (map is null && BodyEntry(deferred, phase) is var at and >= 0)
                {
                    // Its bytes joined the plugin's copy, which that entry delivers whole: it takes this chunk's end.
                    deferred[at] = callback;
                }
                else
                {
                    deferred.Add(callback);
                }

                return true;
            }
        }

        // The request outlasted the pause timeout with the plugin undecided: enforcing, the 503 came here.
        exchange.DropKeptBodies(this);
        exchange.RecordLogOnly(this, "pause_timeout");
        return true;
    }

    /// <summary>
    /// Where the body callback of <paramref name="phase"/> waits, -1 if none does: one per body, wherever the other
    /// direction's callbacks came meanwhile (on a duplex stream the response may start while the request body goes on).
    /// </summary>
    private static int BodyEntry(List<DeferredCallback> deferred, Exchange.Phase phase)
    {
        for (var n = deferred.Count - 1; n >= 0; n--)
        {
            if (deferred[n].Phase == phase)
            {
                return n;
            }
        }

        return -1;
    }

    /// <summary>
    /// The next callback kept for this plugin, taken, for the exchange's drain; null when none is left (or the plugin
    /// would have ended the stream meanwhile, which drops them): the drain is over and callbacks run as they come again.
    /// </summary>
    /// <param name="drop">The drain is over whatever is left (it failed): what is left is dropped.</param>
    public DeferredCallback? TakeDeferred(bool drop = false)
    {
        lock (_gate)
        {
            if (!drop && _deferred is { Count: > 0 } deferred && !WouldHaveEnded && !Skipped)
            {
                var next = deferred[0];
                deferred.RemoveAt(0);
                return next;
            }

            _deferred?.Clear();
            _draining = false;
            return null;
        }
    }

    /// <summary>
    /// The exchange's drain delivered (or dropped) what waited: if the exchange completed meanwhile, this context
    /// completes now, or lingers on for a pause the plugin made in a delivered callback.
    /// </summary>
    public void Drained(TimeSpan pauseTimeout)
    {
        lock (_gate)
        {
            if (!_completeAfterDrain)
            {
                return;
            }

            _completeAfterDrain = false;
        }

        var held = Interlocked.Exchange(ref _lingerHolds, null);
        if (!Linger(pauseTimeout))
        {
            Stream?.Complete();
        }

        held?.Release();
    }

    /// <summary>
    /// This LOG_ONLY plugin paused <paramref name="request"/>'s direction where an enforcing one would have held it: at
    /// its headers or trailers (<paramref name="map"/>, the copy it works on, as its callback left it) or, with none, on
    /// its body. A resume that came first (during the callback) resolves it, as it resolves an enforcing pause.
    /// </summary>
    /// <param name="defers">It paused on the request's headers: the stream's later callbacks wait for its decision.</param>
    /// <param name="endOfStream">A body pause at the body's end: from here it is timed (<see cref="PauseTimedOut"/>).</param>
    public void LogOnlyPaused(bool request, HeaderMap? map, bool defers = false, bool endOfStream = false)
    {
        lock (_gate)
        {
            var resumed = Resumed(request);
            if ((_pending & resumed) != 0)
            {
                _pending &= ~resumed;
                return;
            }

            ref var since = ref request ? ref _requestHeldSince : ref _responseHeldSince;
            if ((_held & Direction(request)) == 0)
            {
                since = 0; // that of a pause resolved since
            }

            if (since == 0 && (map is not null || endOfStream))
            {
                since = Stopwatch.GetTimestamp();
            }

            if (map is null)
            {
                _held |= request ? RequestBodyHeld : ResponseBodyHeld;
            }
            else if (request)
            {
                _held |= RequestHeld;
                (_requestHeldMap, _requestHeldVersion) = (map, map.Version);
                _defers |= defers;
            }
            else
            {
                _held |= ResponseHeld;
                (_responseHeldMap, _responseHeldVersion) = (map, map.Version);
            }
        }
    }

    /// <summary>A body callback of this LOG_ONLY plugin let go of what it held of <paramref name="request"/>'s body.</summary>
    public void LogOnlyBodyReleased(bool request)
    {
        if (Volatile.Read(ref _held) == 0)
        {
            return; // the usual case, once per chunk: no lock
        }

        lock (_gate)
        {
            _held &= ~(request ? RequestBodyHeld : ResponseBodyHeld);
        }
    }

    /// <summary>
    /// The exchange completed while this LOG_ONLY plugin still pauses (its callout is slower than the upstream): true when
    /// its stream context is kept for the plugin's decision, which is counted and then completes it (on_done, on_log,
    /// on_delete), or until the pause has lasted <paramref name="pauseTimeout"/>, where an enforcing pause would have
    /// ended; false when the caller completes it now (nothing pauses, or it would have ended the stream already).
    /// </summary>
    public bool Linger(TimeSpan pauseTimeout)
    {
        var late = false;
        lock (_gate)
        {
            if (_draining)
            {
                // Its resume's callbacks are being delivered: the drain completes the context after them (Drained).
                _completeAfterDrain = true;
                _lingerHolds ??= Entry.Loaded is { } kept && kept.TryRetain() ? kept : null;
                return true;
            }

            if (_held == 0 || WouldHaveEnded || Skipped || Stream is not { Failure: null })
            {
                return false;
            }

            // A body held mid-body when the exchange ended (its client or upstream went) is timed from here.
            var since = TimedSince();
            var left = since == 0 ? pauseTimeout : pauseTimeout - Stopwatch.GetElapsedTime(since);
            if (left > TimeSpan.Zero)
            {
                if (exchange.Lingering.TryAdd(this))
                {
                    // The request, which held the chain and so the plugin's VMs, is over: the linger holds the plugin itself, or
                    // a reload retiring the chain meanwhile would dispose the VM under the context, never to get on_done/on_log.
                    _lingerHolds = Entry.Loaded is { } loaded && loaded.TryRetain() ? loaded : null;
                    _linger = new Timer(static state => ((StreamHost)state!).EndLinger(timedOut: true), this, left, Timeout.InfiniteTimeSpan);
                    return true;
                }

                // The proxy stopped already (this request was still unwinding): dropped undecided at once, as those that
                // lingered then were (DropAtShutdown).
                late = true;
                _held = 0;
                DropDeferred();
                WouldHaveEnded = true;
            }
            else
            {
                // It paused for longer than the request took and the pause timeout both: an enforcing pause had timed out,
                // and a decision that still comes (its callout's answer) must not deliver what waited to a completed context.
                EndPause();
            }
        }

        if (late)
        {
            exchange.DropKeptBodies(this);
            exchange.Lingering.DropLate(this);
            return false;
        }

        exchange.DropKeptBodies(this);
        exchange.RecordLogOnly(this, "pause_timeout");
        return false;
    }

    /// <summary>
    /// Ends a linger (<see cref="Linger"/>), once: the plugin decided, or its pause timed out (<paramref name="timedOut"/>),
    /// which is counted as the 503 an enforcing plugin's stream would have got. Its stream context goes.
    /// </summary>
    private void EndLinger(bool timedOut)
    {
        lock (_gate)
        {
            if (_linger is not { } timer)
            {
                return;
            }

            TakeLinger(timer);
            if (timedOut)
            {
                // Enforcing, the stream would have got the 503 with these callbacks still waiting.
                EndPause();
            }
        }

        FinishLinger(timedOut);
    }

    /// <summary>The linger is over, once: its timer goes (caller holds the gate).</summary>
    private void TakeLinger(ITimer timer)
    {
        _linger = null;
        timer.Dispose();
    }

    /// <summary>What ends a linger taken under the gate (<see cref="TakeLinger"/>): the context completes, its plugin is let go.</summary>
    private void FinishLinger(bool timedOut)
    {
        exchange.Lingering.Remove(this);
        exchange.DropKeptBodies(this);
        if (timedOut)
        {
            exchange.RecordLogOnly(this, "pause_timeout");
        }

        Stream?.Complete();
        Interlocked.Exchange(ref _lingerHolds, null)?.Release();
    }

    /// <summary>
    /// The proxy stops while this context lingers (<see cref="Linger"/>): it completes without the plugin's decision, and
    /// what waited for that decision is dropped; counted as <see cref="LingeringContexts.DroppedAtShutdown"/> (the
    /// caller logs it). False when it no longer lingered.
    /// </summary>
    public bool DropAtShutdown()
    {
        lock (_gate)
        {
            if (_linger is not { } timer)
            {
                return false;
            }

            _linger = null;
            timer.Dispose();
            _held = 0;
            DropDeferred();
            // A decision that still comes (its callout's answer) is not counted: the stream is over.
            WouldHaveEnded = true;
        }

        exchange.Lingering.Remove(this);
        exchange.DropKeptBodies(this);
        Entry.Metrics.LogOnlyAction(LingeringContexts.DroppedAtShutdown).Inc();
        Stream?.Complete();
        Interlocked.Exchange(ref _lingerHolds, null)?.Release();
        return true;
    }

    /// <summary>
    /// What this LOG_ONLY plugin decided from outside a callback (a callout's answer), nothing of it applied: a reply or a
    /// close is counted, and so are the edits it made while paused, once it resumes, as an enforcing plugin's would then
    /// go on. A decision that leaves nothing paused ends a linger. Whether or not the exchange is still under way.
    /// </summary>
    private void ObserveSignal(StreamSignal signal)
    {
        string? action = null;
        var headersEdited = false;
        LogOnlyBody? body = null;
        bool decided = false, drain = false, dropped = false, timedOut = false;
        lock (_gate)
        {
            if (_over)
            {
                return; // its stream is over for it: the pause timed out, or it answered, closed or failed it, first
            }

            if (PauseTimedOut())
            {
                // Decided after the pause timeout while the request was still under way: enforcing, the 503 came first.
                timedOut = true;
                signal = StreamSignal.TimedOut;
            }

            switch (signal)
            {
                case { Kind: StreamSignalKind.TimedOut }:
                    break; // the pause ended there (PauseTimedOut): what the plugin decided after comes to nothing
                case { Kind: StreamSignalKind.LocalResponse }:
                    action = "local_response";
                    EndStream();
                    dropped = true;
                    break;
                case { Kind: StreamSignalKind.Close }:
                    action = "close_stream";
                    EndStream();
                    dropped = true;
                    break;
                case { Kind: StreamSignalKind.Continue, Request: { } request }:
                    var (headers, bodyHeld) = request ? (RequestHeld, RequestBodyHeld) : (ResponseHeld, ResponseBodyHeld);
                    if ((_held & (headers | bodyHeld)) == 0)
                    {
                        // Before its pause, or with none: kept for the pause it resolves, as for an enforcing plugin.
                        _pending |= Resumed(request);
                        break;
                    }

                    if ((_held & headers) != 0)
                    {
                        headersEdited = request ? _requestHeldMap?.Version != _requestHeldVersion : _responseHeldMap?.Version != _responseHeldVersion;
                    }

                    if ((_held & bodyHeld) != 0)
                    {
                        body = request ? LogOnlyRequestBody : LogOnlyResponseBody;
                    }

                    _held &= ~(headers | bodyHeld);
                    if (request && _defers && (_held & RequestHeld) == 0)
                    {
                        // What waited for this decision is delivered now, in order, as to an enforcing plugin that resumed.
                        // _draining first: DefersCallbacks and the exchange's Complete read both flags without the gate,
                        // and must never see both false while a drain is due (a body would run before what waited, a
                        // context complete under the drain).
                        drain = _draining = _deferred is { Count: > 0 };
                        _defers = false;
                    }

                    break;
                default:
                    // It failed: nothing more of it is counted (the failure is, as such), nor delivered.
                    EndStream();
                    dropped = true;
                    break;
            }

            // The linger is taken here, with the decision: a shutdown or the pause timer meanwhile finds none, so the
            // stream is not also counted as dropped_at_shutdown or pause_timeout.
            if (_held == 0 && _linger is { } timer)
            {
                TakeLinger(timer);
                // While the delivery runs, the context completes after it (Drained), not before it.
                if (_draining)
                {
                    _completeAfterDrain = true;
                }
                else
                {
                    decided = true;
                }
            }
        }

        if (drain)
        {
            // Off the linger: a shutdown meanwhile leaves it to the drain, which completes it. The drain does not run from
            // here: the decision came inside one of the plugin's callbacks (a callout's answer), and the callbacks kept
            // for it wait for the exchange's turn.
            exchange.Lingering.Remove(this);
            ThreadPool.UnsafeQueueUserWorkItem(static host => host.Drain(), this, preferLocal: false);
        }

        if (dropped || timedOut)
        {
            exchange.DropKeptBodies(this);
        }

        if (timedOut)
        {
            exchange.RecordLogOnly(this, "pause_timeout");
        }

        if (action is not null)
        {
            exchange.RecordLogOnly(this, action);
        }

        if (headersEdited)
        {
            exchange.RecordLogOnly(this, "header_mutation");
        }

        if (body is not null && exchange.LetGo(body))
        {
            exchange.RecordLogOnly(this, "body_mutation");
        }

        if (decided)
        {
            FinishLinger(timedOut: false);
        }
    }

    private static int Resumed(bool request) => request ? RequestResumed : ResponseResumed;

    private static int Direction(bool request) => request ? RequestHeld | RequestBodyHeld : ResponseHeld | ResponseBodyHeld;

    /// <summary>When the earliest timed pause still held began; 0 when none is timed (caller holds the gate).</summary>
    private long TimedSince()
    {
        var since = (_held & Direction(true)) != 0 ? _requestHeldSince : 0;
        if ((_held & Direction(false)) != 0 && _responseHeldSince != 0 && (since == 0 || _responseHeldSince < since))
        {
            since = _responseHeldSince;
        }

        return since;
    }

    private void Drain() => exchange.DrainDeferred(this);

    /// <summary>The plugin would have ended the stream: the callbacks that waited for it never come (caller holds the gate).</summary>
    /// <returns>True when callbacks waited: the bodies kept for them go too (<see cref="Exchange.DropKeptBodies"/>, outside the gate).</returns>
    private bool DropDeferred()
    {
        var waited = _defers || _deferred is { Count: > 0 };
        _defers = false;
        _deferred?.Clear();
        return waited;
    }

    /// <summary>
    /// True, once, when this plugin's unresolved pause has lasted the pause timeout, where an enforcing pause ends the
    /// stream: the pause ends (<see cref="EndPause"/>) and the caller counts <c>pause_timeout</c> (caller holds the gate).
    /// </summary>
    private bool PauseTimedOut()
    {
        if (_over || _held == 0 || TimedSince() is not (> 0 and var since) || Stopwatch.GetElapsedTime(since) < exchange.PauseTimeout)
        {
            return false;
        }

        EndPause();
        return true;
    }

    /// <summary>
    /// The pause timed out: nothing pauses any more, what waited for the decision never comes, and nor does anything
    /// after it (<see cref="TryDefer"/> takes each later callback and drops it), as the stream ended there for its
    /// enforcing twin (caller holds the gate).
    /// </summary>
    private void EndPause() => EndStream();

    /// <summary>
    /// Its enforcing twin's stream would have ended here (the pause timed out, or it answered, closed or failed the stream):
    /// nothing pauses any more, and what waited for its decision and what comes after it never reach the plugin, whose
    /// context gets only its end (on_done, on_log, on_delete). <see cref="TryDefer"/> takes each later callback and drops it
    /// (caller holds the gate).
    /// </summary>
    private void EndStream()
    {
        _over = true;
        _held = 0;
        _defers = true;
        _deferred?.Clear();
    }

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
            ObserveSignal(signal);
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
