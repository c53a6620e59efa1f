using Microsoft.Extensions.Logging;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// A LOG_ONLY plugin whose request-headers pause is unresolved (an authorizer waiting on its callout) holds nothing, but
/// gets the stream's later callbacks as its enforcing twin would: only once it resumes, in the order they came, on its
/// own copies (the body it would have seen, the headers and trailers as they passed), and never if it answers, closes,
/// fails or its pause times out, where that twin's stream would have ended. They are kept on the plugin's view of the
/// stream (<see cref="StreamHost.TryDefer"/>) and delivered here, under the exchange's turn, whether or not the
/// exchange is still under way. Enforcing plugins never come here.
/// </summary>
internal sealed partial class Exchange
{
    /// <summary>How long a plugin's pause may last, where an enforcing one ends the stream with a 503.</summary>
    public TimeSpan PauseTimeout => _options.PauseTimeout;

    /// <summary>What a body dropped for a plugin whose callbacks wait is counted as (<see cref="DeferBody"/>).</summary>
    public const string DeferredBodyDropped = "deferred_body_dropped";

    /// <summary>
    /// Keeps <paramref name="phase"/>'s headers or trailers callback for <paramref name="host"/>, with the map as it
    /// passes now; false when the plugin decided meanwhile and the callback runs now.
    /// </summary>
    private bool Defer(StreamHost host, Phase phase, bool endOfStream)
    {
        HeaderMap passed;
        lock (_state)
        {
            passed = Copy(phase switch
            {
                Phase.RequestTrailers => RequestTrailers,
                Phase.ResponseHeaders => ResponseHeaders,
                _ => ResponseTrailers,
            }) ?? new HeaderMap(0);

            // The exchange points every plugin at the real map before the phase's callbacks, and a LOG_ONLY one at its
            // copy only as its callback runs: until its kept callback does, it has none (a callout's answer meanwhile
            // must not reach the real map, nor see what its enforcing twin could not have yet).
            switch (phase)
            {
                case Phase.RequestTrailers:
                    host.RequestTrailers = null;
                    break;
                case Phase.ResponseHeaders:
                    host.ResponseHeaders = null;
                    break;
                default:
                    host.ResponseTrailers = null;
                    break;
            }
        }

        return host.TryDefer(phase, endOfStream, passed);
    }

    /// <summary>
    /// A body chunk kept for a plugin whose callbacks wait (<see cref="StreamHost.TryDefer"/> took its callback): it joins
    /// the plugin's copy, delivered in one call when it resumes. Past <c>--max-body-bytes</c> for the body, or past the
    /// proxy's budget for kept bodies (<see cref="DeferredBodyBudget"/>), what was kept of it goes and the plugin gets no
    /// more of this body, counted once as <c>deferred_body_dropped</c>: not as a payload too large, which the enforcing
    /// twin would not have hit (its pause holds the request body unread, and its response starts only after the resume).
    /// </summary>
    private void DeferBody(StreamHost host, LogOnlyBody copy, bool request, byte[] data)
    {
        bool dropped;
        lock (_state)
        {
            if (host.PauseEnded || !host.DefersCallbacks)
            {
                // It answered, closed, failed or timed out since TryDefer took the callback (a callout's answer on another
                // thread): the bodies kept for it went then (DropKeptBodies, under this lock after that decision), so
                // this chunk is not kept either, or its bytes would never go back to the budget.
                return;
            }

            dropped = copy.View.Length + data.Length > _options.MaxBufferedBodyBytes
                || !Lingering.DeferredBodies.TryKeep(data.Length, _options.MaxDeferredBodyBytes);
            if (dropped)
            {
                Lingering.DeferredBodies.Return(copy.Kept);
                copy.Kept = 0;
                copy.Abandon();
            }
            else
            {
                copy.AppendKept(data);
                copy.Kept += data.Length;
            }
        }

        if (dropped)
        {
            RecordLogOnly(host, DeferredBodyDropped);
        }
    }

    /// <summary>
    /// The callbacks kept for <paramref name="host"/> were dropped (it would have ended the stream, its pause timed out, the
    /// proxy stops) or its context completes: the bodies kept for them go, and their bytes back to the budget.
    /// </summary>
    public void DropKeptBodies(StreamHost host)
    {
        if (host.LogOnlyRequestBody is null && host.LogOnlyResponseBody is null)
        {
            return; // no body reached it: nothing was kept
        }

        lock (_state)
        {
            DropKept(host.LogOnlyRequestBody);
            DropKept(host.LogOnlyResponseBody);
        }
    }

    private void DropKept(LogOnlyBody? copy)
    {
        if (copy is not { Kept: > 0 })
        {
            return;
        }

        Lingering.DeferredBodies.Return(copy.Kept);
        copy.Kept = 0;
        copy.Abandon();
    }

    /// <summary>
    /// The plugin resumed its request-headers pause (<see cref="StreamHost"/>, from a callout's answer): the callbacks kept
    /// for it are delivered, off the callback the decision came in.
    /// </summary>
    public void DrainDeferred(StreamHost host) => _ = DrainDeferredAsync(host);

    /// <summary>
    /// Nobody awaits this (the decision came in a callout's answer): what fails here is logged, not left to become an
    /// unobserved task exception, and the context is still completed if its exchange is over (its plugin let go).
    /// </summary>
    private async Task DrainDeferredAsync(StreamHost host)
    {
        try
        {
            await _turn.WaitAsync().ConfigureAwait(false);
            try
            {
                while (host.TakeDeferred() is { } next)
                {
                    if (host.Stream is { Failure: null } stream)
                    {
                        Deliver(host, stream, next);
                    }
                }
            }
            finally
            {
                host.TakeDeferred(drop: true);
                DropKeptBodies(host);
                _turn.Release();
            }
        }
        catch (Exception ex)
        {
            LogDeliveryFailed(_log, host.Entry.Spec.Key, ex.ToString());
        }
        finally
        {
            host.Drained(_options.PauseTimeout);
        }
    }

    /// <summary>One kept callback, on the plugin's own copies; what it would have done is counted as it is when it runs at once.</summary>
    private void Deliver(StreamHost host, HttpStream stream, DeferredCallback callback)
    {
        var phase = callback.Phase;
        if (phase is Phase.RequestBody or Phase.ResponseBody)
        {
            var request = phase == Phase.RequestBody;
            if ((request ? host.LogOnlyRequestBody : host.LogOnlyResponseBody) is not { } copy)
            {
                return;
            }

            lock (_state)
            {
                // Looked at under the lock DropKeptBodies takes: a decision that ended the stream for the plugin meanwhile
                // (a callout's answer on another thread) dropped this body, which is not delivered.
                if (copy.Abandoned || host.WouldHaveEnded || host.PauseEnded)
                {
                    return;
                }

                Lingering.DeferredBodies.Return(copy.Kept);
                copy.Kept = 0;
                copy.Settle();
            }

            DeliverBody(host, stream, request, copy, callback.EndOfStream);
            return;
        }

        if (callback.Map is not { } passed)
        {
            return;
        }

        HeaderMap mine;
        lock (_state)
        {
            mine = Copy(passed) ?? new HeaderMap(0);
            switch (phase)
            {
                case Phase.RequestTrailers:
                    host.RequestTrailers = mine;
                    break;
                case Phase.ResponseHeaders:
                    host.ResponseHeaders = mine;
                    break;
                default:
                    host.ResponseTrailers = mine;
                    break;
            }
        }

        var result = Call(host, stream, phase, callback.EndOfStream);
        bool edited;
        lock (_state)
        {
            edited = !SameHeaders(mine, passed);
        }

        if (edited)
        {
            RecordLogOnly(host, "header_mutation");
        }

        switch (result.Status)
        {
            case FilterStatus.LocalResponse:
                RecordLogOnly(host, "local_response");
                break;
            case FilterStatus.Pause:
                RecordLogOnly(host, "pause");
                host.LogOnlyPaused(phase == Phase.RequestTrailers, mine);
                break;
            case FilterStatus.Failed:
                ApplyFailure(host, result.Failure ?? new PluginFailure(TrapKind.Unavailable, "callback", "no healthy VM"));
                break;
        }
    }

    /// <summary>
    /// The request's method and path for a log line: the request's own while the exchange is under way, else as the plugins
    /// saw them (Kestrel reuses a completed request's context; a LOG_ONLY plugin's kept callbacks may run after it).
    /// </summary>
    private (string Method, string Path) RequestLine()
    {
        if (Interlocked.Read(ref _completed) == 0)
        {
            return (Context.Request.Method, Context.Request.Path.Value ?? "");
        }

        lock (_state)
        {
            return (RequestHeaders.Get(":method") ?? "", RequestHeaders.Get(":path") ?? "");
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "LOG_ONLY plugin {Plugin}: the callbacks kept for it until it decided were not all delivered: {Failure}")]
    private static partial void LogDeliveryFailed(ILogger logger, string plugin, string failure);
}
