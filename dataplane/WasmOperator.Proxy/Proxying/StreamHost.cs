using WasmOperator.Proxy.Chain;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// One plugin's view of one request. In ENFORCE mode it hands out the exchange's own maps and bodies;
/// in LOG_ONLY mode the exchange points it at copies before each callback. Signals that arrive from
/// outside a callback (callout completions) wake the request waiting on <see cref="WaitAsync"/>.
/// </summary>
internal sealed class StreamHost(Exchange exchange, ChainEntry entry) : IHttpStreamHost
{
    private readonly Lock _gate = new();
    private StreamSignal? _pending;
    private bool _waitingForRequest;
    private TaskCompletionSource<StreamSignal>? _waiter;

    // A LOG_ONLY plugin's proxy_set_property writes: read back by it alone. Touched only from the plugin's own
    // callbacks, which its VM runs one at a time.
    private Dictionary<string, byte[]>? _ownProperties;

    public ChainEntry Entry { get; } = entry;

    public HttpStream? Stream { get; set; }

    /// <summary>Failed open (or never loaded with FAIL_OPEN): later callbacks skip this plugin.</summary>
    public bool Skipped { get; set; }

    public bool Retried { get; set; }

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
    /// Forgets a resume that arrived while the stream was not paused (Envoy's continueDecoding is then a
    /// no-op): it must not resolve a later, unrelated pause. Called before each callback.
    /// </summary>
    public void DropStaleContinue()
    {
        if (Volatile.Read(ref _pending) is null)
        {
            return; // the usual case, once per callback: no lock
        }

        lock (_gate)
        {
            if (_pending?.Kind == StreamSignalKind.Continue)
            {
                _pending = null;
            }
        }
    }

    /// <summary>
    /// A reply or close the plugin made while nothing waited (<c>proxy_close_stream</c> inside a callback runs
    /// after it, a callout's answer after the stream went on): it takes effect at the next point the exchange
    /// looks, taken once.
    /// </summary>
    public StreamSignal? TakeStop()
    {
        if (Volatile.Read(ref _pending) is null)
        {
            return null;
        }

        lock (_gate)
        {
            if (_pending is { Kind: StreamSignalKind.Close or StreamSignalKind.LocalResponse } stop)
            {
                _pending = null;
                return stop;
            }

            return null;
        }
    }

    /// <summary>
    /// A signal for <paramref name="request"/>'s direction that arrived while nothing waited (the plugin held a
    /// body and answered later); taken once. A resume of the other direction is dropped.
    /// </summary>
    public StreamSignal? TakeSignal(bool request)
    {
        if (Volatile.Read(ref _pending) is null)
        {
            return null;
        }

        lock (_gate)
        {
            return TakePendingFor(request);
        }
    }

    /// <summary>Waits for the plugin to resume (this direction), answer, close or fail the paused stream.</summary>
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
            _waiter = waiter;
            _waitingForRequest = request;
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
                _waiter = null;
            }
        }
    }

    /// <summary>
    /// The exchange stopped the stream itself (a callback answered or closed it, on the other direction's side): a
    /// direction waiting here is done waiting. A wait that starts later is the exchange's own (a local reply's callbacks).
    /// </summary>
    public void EndWaits()
    {
        TaskCompletionSource<StreamSignal>? waiter;
        lock (_gate)
        {
            waiter = _waiter;
            _waiter = null;
        }

        waiter?.TrySetResult(StreamSignal.Ended);
    }

    /// <summary>Takes the pending signal if it applies to <paramref name="request"/>'s direction (caller holds the gate).</summary>
    private StreamSignal? TakePendingFor(bool request)
    {
        var pending = _pending;
        _pending = null;
        return pending is { Kind: StreamSignalKind.Continue, Request: { } direction } && direction != request ? null : pending;
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

        TaskCompletionSource<StreamSignal>? waiter;
        lock (_gate)
        {
            waiter = _waiter;
            if (waiter is null)
            {
                _pending = signal;
                return;
            }

            if (signal is { Kind: StreamSignalKind.Continue, Request: { } direction } && direction != _waitingForRequest)
            {
                // Envoy: continuing the direction that is not paused does nothing.
                return;
            }

            _waiter = null;
        }

        waiter.TrySetResult(signal);
    }
}
