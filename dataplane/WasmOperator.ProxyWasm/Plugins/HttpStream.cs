using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.ProxyWasm.Plugins;

/// <summary>
/// One HTTP stream's context in a plugin, pinned to one VM shard. Call the callbacks in order
/// (request headers → body → trailers, response headers → body → trailers) and finally
/// <see cref="Complete"/> (on_done → on_log → on_delete). A callback never throws for a plugin fault:
/// it returns <see cref="FilterStatus.Failed"/> and every later callback fails the same way.
/// Calls on one stream must not overlap.
/// </summary>
public sealed class HttpStream : IDisposable
{
    private readonly PluginShard? _shard;
    private readonly int _generation;
    private readonly StreamContext? _context;
    private readonly IHttpStreamHost _host;
    private PluginFailure? _failure;
    // 1 once Complete ran (or began): set by one caller alone. Looked at by a callback under the shard's gate, which
    // Complete's on_delete takes too, so no callback runs after it.
    private int _completed;

    internal HttpStream(PluginShard shard, int generation, StreamContext context)
    {
        _shard = shard;
        _generation = generation;
        _context = context;
        _host = context.Host;
    }

    internal HttpStream(IHttpStreamHost host, PluginFailure failure)
    {
        _host = host;
        _failure = failure;
    }

    /// <summary>The context id the plugin sees (0 if the stream failed to start).</summary>
    public int ContextId => _context?.Id ?? 0;

    /// <summary>The VM shard the stream is pinned to (null when no shard was healthy).</summary>
    internal PluginShard? Shard => _shard;

    /// <summary>The failure that ended this stream's plugin processing, if any.</summary>
    public PluginFailure? Failure => _failure;

    /// <summary>Request headers are ready in the host's <see cref="MapType.RequestHeaders"/> map.</summary>
    public FilterResult OnRequestHeaders(bool endOfStream) =>
        Invoke(StreamCallback.RequestHeaders, MapCount(MapType.RequestHeaders), endOfStream, "proxy_on_request_headers");

    /// <summary>The request body buffer holds everything received so far (cumulative size is passed).</summary>
    public FilterResult OnRequestBody(bool endOfStream) =>
        Invoke(StreamCallback.RequestBody, BodyLength(BufferType.RequestBody), endOfStream, "proxy_on_request_body");

    /// <summary>Request trailers are ready.</summary>
    public FilterResult OnRequestTrailers() =>
        Invoke(StreamCallback.RequestTrailers, MapCount(MapType.RequestTrailers), false, "proxy_on_request_trailers");

    /// <summary>Response headers are ready (starting with <c>:status</c>).</summary>
    public FilterResult OnResponseHeaders(bool endOfStream) =>
        Invoke(StreamCallback.ResponseHeaders, MapCount(MapType.ResponseHeaders), endOfStream, "proxy_on_response_headers");

    /// <summary>The response body buffer holds everything received so far.</summary>
    public FilterResult OnResponseBody(bool endOfStream) =>
        Invoke(StreamCallback.ResponseBody, BodyLength(BufferType.ResponseBody), endOfStream, "proxy_on_response_body");

    /// <summary>Response trailers are ready.</summary>
    public FilterResult OnResponseTrailers() =>
        Invoke(StreamCallback.ResponseTrailers, MapCount(MapType.ResponseTrailers), false, "proxy_on_response_trailers");

    /// <summary>A callback's size argument, read under the host's state lock (another plugin's callout may be editing a shared map).</summary>
    private int MapCount(MapType type)
    {
        using (_host.StateLock is { } gate ? gate.EnterScope() : default)
        {
            return _host.GetHeaderMap(type)?.Count ?? 0;
        }
    }

    private int BodyLength(BufferType type)
    {
        using (_host.StateLock is { } gate ? gate.EnterScope() : default)
        {
            return _host.GetBody(type)?.Length ?? 0;
        }
    }

    private FilterResult Invoke(StreamCallback callback, int size, bool endOfStream, string name)
    {
        if (_failure is not null)
        {
            return FilterResult.Failed(_failure);
        }

        if (_shard is not { } shard || _context is not { } context)
        {
            return FilterResult.Failed(PluginShard.Unavailable(null));
        }

        var action = 0;
        LocalResponse? local = null;
        using (shard.EnterGate())
        {
            var abi = shard.Abi;
            if (Volatile.Read(ref _completed) != 0)
            {
                // on_delete ran (or is about to, behind this gate): the plugin no longer knows the context id (an SDK traps on
                // it), and the host's request may be another one by now. A late caller is a host bug; it gets a failure, and
                // the plugin is not called. Looked at under the gate, so a Complete on another thread cannot slip between.
                return FilterResult.Failed(new PluginFailure(TrapKind.Unavailable, name, "the stream context was already completed"));
            }

            if (abi is null || shard.Generation != _generation)
            {
                // Not this stream's own trap (that sets _failure, and nothing is called after it): another's, or the shard's end.
                _failure = shard.LastFailure is { } last ? last with { InAnotherStream = true } : PluginShard.Unavailable(null);
            }
            else
            {
                shard.CallDepth++;
                try
                {
                    abi.Vm.Arm();
                    action = abi.InvokeStream(context, callback, size, endOfStream);
                }
#pragma warning disable CA1031 // Every trap becomes a typed failure for the caller.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    _failure = shard.Fail(ex, name, context);
                }
                finally
                {
                    shard.CallDepth--;
                }

                local = context.PendingLocalResponse;
                context.PendingLocalResponse = null;
            }
        }

        if (_failure is not null)
        {
            // A reply the plugin asked for before it failed goes with the failure: failing open skips the plugin, not its decision.
            return new FilterResult(FilterStatus.Failed, 0, local, _failure);
        }

        if (local is not null)
        {
            return FilterResult.Local(local);
        }

        return callback is StreamCallback.RequestHeaders or StreamCallback.ResponseHeaders
            ? FilterResult.FromHeadersAction(action)
            : FilterResult.FromAction(action);
    }

    /// <summary>
    /// Ends the stream: on_done, then on_log and on_delete (on_done's return is ignored for streams, as in
    /// Envoy). Safe to call more than once.
    /// </summary>
    public void Complete()
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return; // once, whoever else calls it at the same moment
        }
        if (_failure is not null || _shard is null || _context is null)
        {
            return;
        }

        var shard = _shard;
        using (shard.EnterGate())
        {
            var abi = shard.Abi;
            if (abi is not null && shard.Generation == _generation)
            {
                shard.CallDepth++;
                try
                {
                    abi.Vm.Arm();
                    abi.CompleteStream(_context);
                    shard.MarkHealthy();
                }
#pragma warning disable CA1031 // Every trap becomes a typed failure for the caller.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    _failure = shard.Fail(ex, abi.Callback, _context);
                }
                finally
                {
                    shard.CallDepth--;
                }
            }
        }
    }

    /// <summary>Same as <see cref="Complete"/>.</summary>
    public void Dispose() => Complete();
}
