using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using WasmOperator.Proxy.Chain;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Forwarding;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// One request/response pair running through a plugin chain: the header maps and bodies the plugins
/// edit, request callbacks in chain order, response callbacks in reverse (Envoy), local replies,
/// pauses and the fail strategies.
/// </summary>
/// <remarks>
/// The two directions are driven by two tasks once the request is forwarded: the request body's reader (YARP's or the
/// forwarder's upload) and the response's relay. Envoy runs a stream's decoder and encoder callbacks on one worker
/// thread, interleaved, never at once; here each step of a direction (a body chunk, a headers or trailers phase, a
/// local reply) holds the exchange's turn (<see cref="_turn"/>) for its callbacks: one direction's plugin callbacks,
/// the reply and the stop never run at once with the other's. A direction lets the turn go while it waits for a plugin
/// to resume it (the other direction goes on meanwhile, as Envoy's encoder does while a decoder filter is stopped),
/// and around I/O.
/// The turn does not cover the maps, the bodies and the LOG_ONLY copies: a callout's answer, a tick or a queue event
/// runs on the plugin's VM whenever it comes (under that VM's lock only, never the turn, which is taken before a VM's
/// lock, never after), and may reach them through proxy_set_effective_context while this exchange appends a chunk to
/// a held body or another plugin's callback edits the same map. The state lock (<see cref="_state"/>) covers them:
/// each hostcall that reads or writes them holds it for that hostcall, and the exchange holds it around each of its
/// own reads and writes of them (held bodies, header write-back, LOG_ONLY copies, trailers), never across a plugin
/// call or an await.
/// </remarks>
internal sealed partial class Exchange : IUpstreamResponseObserver
{
    private const int ChunkSize = 16 * 1024;
    private static long _connectionIds;
    private readonly StreamHost[] _hosts;
    private readonly ProxyOptions _options;
    private readonly ILogger _log;
    private readonly long _started = Stopwatch.GetTimestamp();
    private CancellationTokenSource? _idle;
    private TimeSpan _idleAfter;
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly Lock _state = new();
    private ConcurrentDictionary<string, byte[]>? _filterState;
    private StreamHost? _endingRequest;

    // The request trailers are a plugin's, created at the end of a body the client sent without any (TrailersCreatedAtEnd).
    private bool _requestTrailersByPlugin;
    private StreamHost? _endingResponse;
    private bool _waitsEnded;
    private bool _replyWritten;

    // 1 once a reset for a held body past the buffer limit was logged: WriteReplyAsync runs once per direction that stops,
    // both directions of an upgraded stream at once.
    private int _resetLogged;

    // The Reply is a plugin's (proxy_send_local_response), not one the proxy made: once the response started it is a reset
    // the plugin caused (ResetByPlugin).
    private volatile bool _replyByPlugin;
    private volatile bool _replyReset;
    private long _completed;
    private long _startTime; // request.time in Unix nanoseconds once a plugin asked (StartTime), else 0

    // Whether a plugin holds part of each direction's body after its last step (that direction's task reads and writes it).
    private bool _requestHeld;
    private bool _responseHeld;

    // Completed and cleared by a plugin's decision kept for the exchange (a callout's answer) or by the stream's stop, while
    // a direction that holds a body reads on (WhenHeldDecided); null otherwise.
    private TaskCompletionSource? _requestDecided;
    private TaskCompletionSource? _responseDecided;

    // The request body's read while a plugin holds part of it: it may outlive the reader that started it.
    private HeldBodyRead? _requestRead;

    /// <param name="context">The request.</param>
    /// <param name="requestHeaders">The request's map for the plugins (<see cref="BuildRequestHeaders"/>).</param>
    /// <param name="entries">The plugins that see the request, in chain order.</param>
    /// <param name="options">The proxy's options.</param>
    /// <param name="log">The proxy's log.</param>
    /// <param name="lingering">Where a LOG_ONLY context that outlives the exchange is known until it completes.</param>
    public Exchange(HttpContext context, HeaderMap requestHeaders, ChainEntry[] entries, ProxyOptions options, LingeringContexts lingering, ILogger log)
    {
        Context = context;
        Lingering = lingering;
        _requestReader = context.Request.BodyReader;
        _options = options;
        _log = log;
        IsGrpc = LocalReply.IsGrpc(context.Request);
        if (IsGrpc)
        {
            _idleAfter = options.StreamIdleTimeout;
            _idle = new CancellationTokenSource(_idleAfter);
        }

        RequestHeaders = requestHeaders;
        RequestHeaders.TrackChanges();
        _hosts = new StreamHost[entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            var host = new StreamHost(this, entries[i]);
            host.RequestHeaders = RequestHeaders;
            _hosts[i] = host;
        }
    }

    public HttpContext Context { get; }

    /// <summary>The LOG_ONLY stream contexts that outlive their exchange (<see cref="StreamHost.Linger"/>), for shutdown.</summary>
    public LingeringContexts Lingering { get; }

    /// <summary>
    /// The state lock (<see cref="IHttpStreamHost.StateLock"/> of every plugin's view of this exchange, LOG_ONLY copies
    /// included): held by each hostcall that touches the maps and bodies, and here around each touch of them, never
    /// across a plugin call or an await.
    /// </summary>
    public Lock StateLock => _state;

    public HeaderMap RequestHeaders { get; }

    public HeaderMap? ResponseHeaders { get; private set; }

    /// <summary>Request trailers, once the request body ended with some.</summary>
    public HeaderMap? RequestTrailers { get; private set; }

    /// <summary>Response trailers, once the upstream body ended with some.</summary>
    public HeaderMap? ResponseTrailers { get; private set; }

    /// <summary>Bytes of the response body that have left the chain so far.</summary>
    public long ResponseBytes { get; private set; }

    /// <summary>The reply the chain decided to send instead of (or in place of) the upstream's.</summary>
    public LocalResponse? Reply { get; private set; }

    /// <summary>A plugin closed the stream: the connection is reset.</summary>
    public bool Closed { get; private set; }

    private bool Stopped => Reply is not null || Closed;

    /// <summary>
    /// A gRPC call's stream idle timer (Envoy's <c>stream_idle_timeout</c>), cancelled when no byte moved either way for
    /// <see cref="ProxyOptions.StreamIdleTimeout"/>: the proxy's own reads of the call's body and YARP's forwarding end on
    /// it. The exchange times the call, not YARP, because plugins hold body bytes YARP never sees: a client whose messages
    /// a plugin holds is not idle, and one that sends nothing while the proxy reads its body itself has no YARP timer
    /// running yet. None for other requests (YARP's and the forwarder's timers see all their bytes).
    /// </summary>
    public CancellationToken StreamIdleToken => _idle?.Token ?? CancellationToken.None;

    /// <summary>A gRPC call (<see cref="LocalReply.IsGrpc"/>), told once per request.</summary>
    public bool IsGrpc { get; }

    /// <summary>
    /// True once the stream idle timer of a gRPC call fired, or that of a request forwarded as an upgrade whose answer was
    /// no 101 (<see cref="TimeUpgradedStream"/>): ended as any stream is then (<see cref="EndOnStreamIdleTimeout"/>).
    /// </summary>
    public bool StreamIdleTimedOut => (IsGrpc || (_timesUpgrade && !_upgraded)) && Volatile.Read(ref _idle)?.IsCancellationRequested == true;

    /// <summary>
    /// Times the upstream of a request that is not a gRPC call and goes through YARP: the token is cancelled when no byte
    /// moved either way for <see cref="ProxyOptions.UpstreamTimeout"/>. YARP's own activity timer cannot do it here: it
    /// starts over only on the bytes YARP copies, and the exchange reads the response body itself, so a response still
    /// streaming after that long (a download, server-sent events) would be cut. Called once, before forwarding.
    /// </summary>
    public CancellationToken TimeUpstream()
    {
        if (_idle is null)
        {
            _idleAfter = _options.UpstreamTimeout;
            // A full fence, as is Interrupt's: a stop made before the forwarding starts cancels it from the start.
            Interlocked.Exchange(ref _idle, new CancellationTokenSource(_idleAfter));
            if (Interrupted)
            {
                CancelForwarding(_idle);
            }
        }

        return _idle.Token;
    }

    /// <summary>True once the upstream timer of <see cref="TimeUpstream"/> fired.</summary>
    public bool UpstreamTimedOut => !IsGrpc && !_timesUpgrade && _idle?.IsCancellationRequested == true;

    /// <summary>Bytes moved (a body or upgraded stream chunk either way, the response head): the stream idle (or upstream) timer starts over.</summary>
    public void StreamActive() => Volatile.Read(ref _idle)?.CancelAfter(_idleAfter);

    /// <summary>True once the client sent all of its request (its body ended, or it had none).</summary>
    public bool RequestComplete { get; set; }

    /// <summary>True when the stream idle timeout ended the stream (<see cref="EndOnStreamIdleTimeout"/>).</summary>
    public bool EndedByStreamIdleTimeout { get; private set; }

    /// <summary>
    /// Ends the stream as Envoy does on stream_idle_timeout: its local reply (408, or 504 once the request was whole),
    /// sent if the response has not started; after that the stream is reset.
    /// </summary>
    public void EndOnStreamIdleTimeout()
    {
        EndedByStreamIdleTimeout = true;
        Reply = LocalReply.ForStreamIdleTimeout(RequestComplete);
    }

    /// <summary>True when plugin code about to run must first leave a socket event thread (<see cref="ProxyOptions.InlineIo"/> off).</summary>
    public bool MustLeaveIoThread => !_options.InlineIo && SocketThreads.OnIoThread;

    /// <summary>Creates the per-plugin stream contexts; a plugin that never loaded applies its fail strategy.</summary>
    public void Start()
    {
        foreach (var host in _hosts)
        {
            var entry = host.Entry;
            if (entry.Plugin is null)
            {
                // Its failStrategy acts on every request, wherever it stands in the chain.
                entry.Metrics.Requests.Inc();
                ApplyFailure(host, new PluginFailure(TrapKind.Unavailable, "load", entry.LoadError ?? "not loaded"));
                continue;
            }

            host.Stream = entry.Plugin.CreateHttpStream(host);
        }
    }

    /// <summary>Request headers, then (if present) the part of the request body already here; false when the request must not be forwarded.</summary>
    public async Task<bool> OnRequestAsync()
    {
        if (Stopped)
        {
            return false;
        }

        var request = Context.Request;
        var hasBody = Context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? request.ContentLength > 0;
        RequestComplete = !hasBody;
        var before = RequestHeaders.Version;
        await _turn.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!await RunAsync(Phase.RequestHeaders, !hasBody).ConfigureAwait(false))
            {
                return false;
            }
        }
        finally
        {
            ReleaseTurn();
        }

        string? unsendable = null;
        lock (_state)
        {
            if (RequestHeaders.Version != before)
            {
                // Untouched requests keep Kestrel's parsed method, path and headers: nothing to copy back.
                unsendable = ApplyRequestHeaders();
            }
        }

        if (unsendable is not null)
        {
            // As Envoy's codecs refuse a header a filter left invalid: nothing goes upstream, on either path.
            LogUnsendable(_log, Context.Request.Path.Value ?? "", unsendable);
            ForwardFailed(ForwardResult.InvalidRequest, unsendable);
            StopWith(LocalReply.InvalidRequestFromPlugins());
            return false;
        }

        if (!hasBody)
        {
            return true;
        }

        // Bodies stream: a chunk leaves the chain as soon as every plugin continued on it. Only
        // if the whole body was held until its end is it forwarded with an exact content-length (chunked still when
        // request trailers follow it).
        return await ReadRequestBodyAsync(request, request.ContentLength).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs the body through the plugins before the request leaves, so a body is decided on (and its length fixed
    /// when a plugin held it whole) before the upstream sees anything: a plugin that refuses on the body is never
    /// preceded upstream by the request's headers, however slowly the body comes. A gRPC call is the exception: as
    /// soon as the client has nothing more to send right now, its headers go (Envoy forwards them when the headers
    /// phase continues) and the rest streams behind them, because a client waiting for the server (a server-first
    /// stream) would otherwise wait forever. Even then a plugin holding body bytes keeps the headers back.
    /// </summary>
    private async Task<bool> ReadRequestBodyAsync(HttpRequest request, long? declared)
    {
        // Kestrel's reader, read through (ClientBodyReader) and asked whether the client sent more without waiting for it.
        var reader = _requestReader;
        var headersGoAhead = IsGrpc;
        var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
        long total = 0;
        try
        {
            while (true)
            {
                if (headersGoAhead && BufferedBytes(request: true) == 0 && !Arrived(reader))
                {
                    request.Body = new PluginBodyStream(this, declared, total, []);
                    return true;
                }

                if (Interrupted)
                {
                    // A stop from outside a callback cancelled the read that Arrived made (and took the cancel).
                    return false;
                }

                int read;
                var whole = false;
                try
                {
                    // A gRPC call's client may stay quiet for as long as the stream idle timeout, no longer (its body has no
                    // minimum rate). A client that went away fails the read either way: Kestrel ends it.
                    var token = _idle?.Token ?? CancellationToken.None;
                    if (_requestRead is { Reading: true } || _requestHeld)
                    {
                        // A plugin holds part of the body: what it decides meanwhile (a callout's answer) is not left
                        // waiting for the client's next bytes.
                        var next = await HeldRequestRead(chunk, token).NextAsync(ChunkSize).ConfigureAwait(false);
                        if (next.IsStopped)
                        {
                            return false;
                        }

                        if (next.Released is { } released)
                        {
                            request.Body = new PluginBodyStream(this, declared, total, released);
                            return true;
                        }

                        read = next.Read;
                    }
                    else
                    {
                        read = await ClientBodyReader.ReadAsync(reader, chunk.AsMemory(0, ChunkSize), token).ConfigureAwait(false);
                        // HTTP/2: the declared length is here, so the stream's end is too; waited for so that it comes with
                        // these bytes (PluginBodyStream.ReadAsync says why).
                        whole = read > 0 && declared is { } length && total + read >= length && !RequestEndsAtDeclaredLength &&
                            await ClientBodyReader.EndsHereAsync(reader, token).ConfigureAwait(false);
                    }
                }
                catch (OperationCanceledException) when (Interrupted)
                {
                    // A plugin answered or closed the stream from outside a callback (StopFromOutside).
                    return false;
                }
                catch (OperationCanceledException) when (StreamIdleTimedOut)
                {
                    EndOnStreamIdleTimeout();
                    return false;
                }
                catch (IOException ex) when (ex is not BadHttpRequestException && !Forwarding.ClientReset.Caused(ex) &&
                                             !Context.RequestAborted.IsCancellationRequested)
                {
                    // Kestrel reports some malformed bodies (a chunk size that overflows) as a bare IOException: still the
                    // client's 400, as the forwarder answers it, not an unhandled 500.
                    throw new BadHttpRequestException("the request body is malformed: " + ex.Message, StatusCodes.Status400BadRequest, ex);
                }

                StreamActive();
                if (MustLeaveIoThread)
                {
                    await Task.Yield();
                }

                total += read;
                var endOfStream = read == 0 || whole || (declared is { } d && total >= d && RequestEndsAtDeclaredLength);
                RequestComplete = endOfStream;
                var output = await PushRequestChunkAsync(chunk.AsSpan(0, read).ToArray(), endOfStream).ConfigureAwait(false);
                if (output is null)
                {
                    return false;
                }

                if (endOfStream)
                {
                    RequestBytes = output.Length;
                    request.Body = new MemoryStream(output, writable: false);
                    if (HasRequestTrailers() && (declared is null || !_requestTrailersByPlugin))
                    {
                        // Only chunked framing carries them on HTTP/1.1: the forwarder sends them after the body. Trailers a
                        // plugin created on a request the client framed with a Content-Length do not change its framing, as
                        // they cannot when its body streams (its head went up with the length): they do not go up then, as
                        // Envoy's HTTP/1 codec sends none on such a request.
                        request.ContentLength = null;
                    }
                    else
                    {
                        request.Headers.Remove("Transfer-Encoding");
                        request.ContentLength = output.Length;
                    }

                    return true;
                }

                if (output.Length > 0)
                {
                    request.Body = new PluginBodyStream(this, declared, total, output);
                    return true;
                }
            }
        }
        finally
        {
            if (_requestRead is null)
            {
                // Else the chunk is the held read's, which may still fill it (EndRequestReadAsync ends it), and then the
                // body stream's: it is not returned.
                ArrayPool<byte>.Shared.Return(chunk);
            }
        }
    }

    /// <summary>True when the request ended with trailers the plugins left some fields in.</summary>
    private bool HasRequestTrailers()
    {
        lock (_state)
        {
            return RequestTrailers is { Count: > 0 };
        }
    }

    /// <summary>True when the client sent body bytes (or ended the body) not read yet; nothing is consumed.</summary>
    private static bool Arrived(PipeReader reader)
    {
        if (!reader.TryRead(out var result))
        {
            return false;
        }

        reader.AdvanceTo(result.Buffer.Start);
        return true;
    }

    /// <summary>Bytes of the request body that have left the chain so far.</summary>
    public long RequestBytes { get; set; }

    /// <summary>
    /// HTTP/1.1 with a content-length ends at that length; HTTP/2 and HTTP/3 may still send trailers
    /// after it, so there the body ends only when the stream does.
    /// </summary>
    public bool RequestEndsAtDeclaredLength => !HttpProtocol.IsHttp2(Context.Request.Protocol) && !HttpProtocol.IsHttp3(Context.Request.Protocol);

    /// <summary>
    /// Runs one chunk of the client's request body through the chain; at its end, the request
    /// trailers (if the client sent any) go to the plugins, and the last body callback before them
    /// has end_of_stream false. Returns what left the chain, or null when the stream stopped: a plugin
    /// stopped it (here or on the response's side), or the plugins hold more than the buffer limit (413).
    /// </summary>
    /// <remarks>
    /// Plugins may read and edit request trailers, and create them in the last body callback when the client sent none
    /// (<see cref="TrailersCreatedAtEnd"/>). The HTTP/1.1 forwarder (HTTP/1.1 and h2c clients to plain-HTTP
    /// upstreams) forwards them as plugins left them (chunked); over YARP (gRPC, TLS upstreams) they are not forwarded:
    /// HttpClient cannot send request trailers.
    /// </remarks>
    public async ValueTask<byte[]?> PushRequestChunkAsync(byte[] chunk, bool endOfStream)
    {
        await _turn.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Stopped)
            {
                return null;
            }

            if (Overflows(request: true, chunk.Length))
            {
                Reply = RequestTooLarge();
                return null;
            }

            // An upgraded stream's request has no trailers: its bytes end with the client's side of the stream.
            var output = endOfStream && !_upgraded && ReceivedRequestTrailers() is { } trailers
                ? await FinishBodyWithTrailersAsync(request: true, chunk, trailers).ConfigureAwait(false)
                : await PushBodyAsync(request: true, chunk, endOfStream).ConfigureAwait(false);
            var held = output is null ? 0 : BufferedBytes(request: true);
            if (held > _options.MaxBufferedBodyBytes)
            {
                Reply = RequestTooLarge();
                return null;
            }

            _requestHeld = held > 0;
            return output;
        }
        finally
        {
            ReleaseTurn();
        }
    }

    /// <summary>
    /// One chunk of an upgraded stream (<see cref="PluginUpgradedStream"/>) once the plugins let the upstream's 101 through:
    /// the client's bytes go through the request body callbacks (chain order), the upstream's through the response body
    /// callbacks (reverse order), as Envoy passes an upgrade's payload through its filters. Returns what left the chain
    /// (empty while held), or null when the stream stopped, which after the 101 can only reset it.
    /// </summary>
    public async ValueTask<byte[]?> PushUpgradedChunkAsync(bool request, byte[] chunk, bool endOfStream)
    {
        var output = request
            ? await PushRequestChunkAsync(chunk, endOfStream).ConfigureAwait(false)
            : await PushResponseChunkAsync(chunk, endOfStream, trailers: null).ConfigureAwait(false);
        if (output is null)
        {
            return null;
        }

        if (request)
        {
            RequestBytes += output.Length;
        }
        else
        {
            ResponseBytes += output.Length;
            if (endOfStream)
            {
                // The upstream's side ended: YARP stops reading the client's then, and a later stop has nothing to act on.
                _responseEnded = true;
            }
        }

        return output;
    }

    /// <summary>True once the plugins let an upgrade's 101 through: the upgraded stream's bytes follow (<see cref="PluginUpgradedStream"/>).</summary>
    public bool Upgraded => _upgraded;

    /// <summary>True once the response ended: read whole, or (<see cref="Upgraded"/>) the upstream's side of the stream ended.</summary>
    public bool ResponseEnded => _responseEnded;

    private HeaderMap? ReceivedRequestTrailers()
    {
        var request = Context.Request;
        if (!request.SupportsTrailers() || !request.CheckTrailersAvailable() || Context.Features.Get<IHttpRequestTrailersFeature>()?.Trailers is not { Count: > 0 } trailers)
        {
            return null;
        }

        if (RequestFields.Unsendable(trailers, "trailer") is { } malformed)
        {
            // Refused before the plugins see them, as the request's headers were (ProxyHandler): the client's 400.
            throw new BadHttpRequestException(malformed, StatusCodes.Status400BadRequest);
        }

        var map = new HeaderMap(trailers.Count);
        foreach (var (name, values) in trailers)
        {
            foreach (var value in values)
            {
                map.Add(name, value ?? "");
            }
        }

        return map;
    }

    /// <summary>Stops the stream with <paramref name="reply"/> (sent if the response has not started).</summary>
    public void StopWith(LocalResponse reply) => Reply ??= reply;

    /// <summary>True when a plugin answered or closed the stream.</summary>
    public bool IsStopped => Stopped;

    /// <summary>Bytes plugins hold (paused on a body) in one direction.</summary>
    /// <summary>
    /// Whether <paramref name="chunk"/> more bytes would take what the plugins hold past the buffer limit: a chunk joins
    /// the held body before the plugins see it, also the last one, after which they let it all go (Envoy counts the
    /// chunk it adds to the buffered body the same way). Checked before the plugins run, as the check after them sees
    /// nothing held once the last chunk released it.
    /// </summary>
    private bool Overflows(bool request, int chunk) =>
        (request ? _requestHeld : _responseHeld) && BufferedBytes(request) + chunk > _options.MaxBufferedBodyBytes;

    private static LocalResponse RequestTooLarge() =>
        new(413, "request_payload_too_large", Encoding.UTF8.GetBytes("Payload Too Large"), new HeaderMap(), null);

    private static LocalResponse ResponseTooLarge() =>
        new(500, "response_payload_too_large", Encoding.UTF8.GetBytes("upstream response too large for the plugin buffer"), new HeaderMap(), null);

    public int BufferedBytes(bool request)
    {
        var total = 0;
        lock (_state)
        {
            foreach (var host in _hosts)
            {
                if (!host.Entry.LogOnly)
                {
                    total += (request ? host.RequestBody : host.ResponseBody)?.Length ?? 0;
                }
            }
        }

        return total;
    }

    /// <summary>
    /// Runs the response callbacks after YARP copied the upstream status and headers; writes the
    /// (possibly rewritten) body itself. Returns true if YARP should copy the body.
    /// </summary>
    public Task<bool> OnResponseAsync(HttpResponseMessage upstream, CancellationToken cancellationToken)
    {
        // An upgrade's wait for its answer was bounded by the upstream timeout; from the answer on, a 101's upgraded bytes
        // or another answer's body, the stream idle timer bounds it (YARP's activity timer is off through plugins).
        TimeUpgradedStream();
        return OnResponseAsync(
            // 1xx, 204 and 304 never have a body (RFC 9110 §6.4.1): their headers end the stream, as on the fast path.
            upstream.Content.Headers.ContentLength is not 0 && !HttpMethods.IsHead(Context.Request.Method) &&
                (int)upstream.StatusCode is >= 200 and not 204 and not 304,
            upstream.Content.Headers.ContentLength,
            trailersAfterLength: upstream.Version.Major >= 2,
            upstream,
            // Upgrades go upstream as HTTP/1.1 (over h2c too, as YARP turns an extended CONNECT into an Upgrade): YARP
            // relays the upgraded bytes after a 101, through the plugins' body callbacks (PluginUpgradedStream).
            upgrade: upstream.StatusCode == HttpStatusCode.SwitchingProtocols,
            cancellationToken);
    }

    /// <inheritdoc/>
    public string? PluginTarget { get; private set; }

    /// <summary>The request trailers as the plugins left them, for the fast path to send: copied under the state lock.</summary>
    KeyValuePair<string, string>[] IUpstreamResponseObserver.RequestTrailerFields()
    {
        lock (_state)
        {
            return RequestTrailers is { } trailers ? [.. trailers.Entries] : [];
        }
    }

    /// <summary>The fast path's hook: the same response callbacks for a response read by <see cref="Http1Forwarder"/>.</summary>
    ValueTask<bool> IUpstreamResponseObserver.OnResponseAsync(UpstreamResponse upstream, CancellationToken cancellationToken) =>
        new(OnResponseAsync(upstream.HasBody, upstream.ContentLength, trailersAfterLength: false, upstream, upgrade: false, cancellationToken));

    /// <summary>The upstream response's body: the fast path's (<see cref="UpstreamResponse"/>) or YARP's (an <see cref="HttpResponseMessage"/>).</summary>
    private static async ValueTask<Stream> OpenBodyAsync(object upstream, CancellationToken cancellationToken) => upstream is UpstreamResponse fast
        ? fast.Body
        : await ((HttpResponseMessage)upstream).Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>The trailers that ended the upstream's body, if any (read once the body ended).</summary>
    private static HeaderMap? UpstreamTrailersOf(object upstream) => upstream switch
    {
        UpstreamResponse fast => fast.Body.Trailers is { Count: > 0 } received ? ToMap(received) : null,
        _ => ((HttpResponseMessage)upstream).TrailingHeaders is { NonValidated.Count: > 0 } trailing ? ToMap(trailing) : null,
    };

    /// <param name="upstream">The response: an <see cref="UpstreamResponse"/> (the fast path) or an <see cref="HttpResponseMessage"/> (YARP), read through
    /// <see cref="OpenBodyAsync"/> and <see cref="UpstreamTrailersOf"/> (no delegates made per response).</param>
    /// <param name="upgrade">The upstream's 101 to an upgrade: YARP relays the upgraded stream once this returns true.</param>
    private async Task<bool> OnResponseAsync(bool hasBody, long? declared, bool trailersAfterLength, object upstream, bool upgrade, CancellationToken cancellationToken)
    {
        StreamActive();
        var response = Context.Response;
        var upstreamStatus = response.StatusCode;
        bool goesOn;
        await _turn.WaitAsync().ConfigureAwait(false);
        try
        {
            // The request's side may have stopped the stream meanwhile: its reply goes out instead.
            goesOn = !Stopped && await RunResponseHeadersAsync(response, hasBody).ConfigureAwait(false);
            // Told under the turn: a stop taken after it (under the turn too) finds the stream upgraded and resets it, one
            // taken before it is seen just above.
            _upgraded = goesOn && upgrade;
        }
        finally
        {
            ReleaseTurn();
        }

        if (!goesOn)
        {
            await WriteReplyAsync().ConfigureAwait(false);
            return false;
        }

        if (!hasBody)
        {
            // A 101 ends the response's head, not the stream: the upgraded bytes follow, and a stop still resets them.
            _responseEnded = !upgrade;
            return true;
        }

        if (response.StatusCode != upstreamStatus && ForbidsContent(response.StatusCode))
        {
            // A status without content (RFC 9110 §15.3.5, §15.3.6, §15.4.5) that plugins set on a response with a body:
            // the body is not relayed (Kestrel refuses to write one, and a client would read it as the next response).
            LogBodyDropped(_log, Context.Request.Method, Context.Request.Path.Value ?? "", response.StatusCode, upstreamStatus);
            _responseEnded = true;
            return false;
        }

        if (ResponseHead.GoesAhead(Context))
        {
            // Flushing a response that has not started sends its head.
            await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            return await CopyResponseBodyAsync(declared, trailersAfterLength, upstream, chunk, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>The response headers callbacks on the upstream's head (holding the turn); false when the stream stopped.</summary>
    private async Task<bool> RunResponseHeadersAsync(HttpResponse response, bool hasBody)
    {
        var headers = new HeaderMap(response.Headers.Count + 4);
        headers.Add(":status", response.StatusCode.ToString(CultureInfo.InvariantCulture));
        foreach (var (name, values) in response.Headers)
        {
            foreach (var value in values)
            {
                headers.Add(name, value ?? "");
            }
        }

        headers.TrackChanges();
        var before = headers.Version;
        lock (_state)
        {
            ResponseHeaders = headers;
            foreach (var host in _hosts)
            {
                // A LOG_ONLY plugin gets its copy as its callback runs (PrepareCopies, or Defer's, later): until then a
                // callout's answer of its must not reach the real map.
                if (!host.Entry.LogOnly)
                {
                    host.ResponseHeaders = headers;
                }
            }
        }

        if (!await RunAsync(Phase.ResponseHeaders, !hasBody).ConfigureAwait(false))
        {
            return false;
        }

        (LocalResponse Reply, string Reason)? refused = null;
        lock (_state)
        {
            if (headers.Version != before)
            {
                refused = ApplyResponseHeaders();
            }
        }

        if (refused is { } refusal)
        {
            // As Envoy's filter manager refuses a response head a filter left without :status (502), and as the request
            // side refuses a field the codec could not send (500): the upstream's response does not go out.
            LogInvalidResponse(_log, refusal.Reply.Details, Context.Request.Method, Context.Request.Path.Value ?? "", refusal.Reply.StatusCode, refusal.Reason);
            Reply ??= refusal.Reply;
            return false;
        }

        return true;
    }

    private async Task<bool> CopyResponseBodyAsync(long? declared, bool trailersAfterLength, object upstream, byte[] chunk, CancellationToken cancellationToken)
    {
        var response = Context.Response;
        var started = false;
        long total = 0;
        var stream = await OpenBodyAsync(upstream, cancellationToken).ConfigureAwait(false);
        HeldBodyRead? held = null;
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                while (true)
                {
                    int read;
                    if (held is { Reading: true } || _responseHeld)
                    {
                        // A plugin holds part of the body: what it decides meanwhile (a callout's answer) is not left
                        // waiting for the upstream's next bytes (an SSE or gRPC server stream may send none for long).
                        held ??= HeldBodyRead.ForResponse(this, stream, chunk, cancellationToken);
                        var next = await held.NextAsync(ChunkSize).ConfigureAwait(false);
                        if (next.IsStopped)
                        {
                            await WriteReplyAsync().ConfigureAwait(false);
                            return false;
                        }

                        if (next.Released is { } released)
                        {
                            if (Overruns(released.Length))
                            {
                                await EndMisframedAsync(grew: true).ConfigureAwait(false);
                                return false;
                            }

                            started = true;
                            ResponseBytes += released.Length;
                            await response.Body.WriteAsync(released, cancellationToken).ConfigureAwait(false);
                            continue;
                        }

                        read = next.Read;
                    }
                    else
                    {
                        read = await stream.ReadAsync(chunk.AsMemory(0, ChunkSize), cancellationToken).ConfigureAwait(false);
                    }

                    StreamActive();
                    if (MustLeaveIoThread)
                    {
                        await Task.Yield();
                    }

                    total += read;
                    // Over HTTP/2 trailers may follow the declared length: read to the end of the stream.
                    var endOfStream = read == 0 || (declared is { } d && total >= d && !trailersAfterLength);
                    var output = await PushResponseChunkAsync(chunk.AsSpan(0, read).ToArray(), endOfStream, read == 0 ? UpstreamTrailersOf(upstream) : null).ConfigureAwait(false);

                    if (output is null)
                    {
                        // Before the first byte went out this is a clean local reply; after it, a reset.
                        await WriteReplyAsync().ConfigureAwait(false);
                        return false;
                    }

                    if (!started && endOfStream && !response.HasStarted)
                    {
                        // The whole body was processed before anything left: content-length is exact.
                        response.Headers.Remove("Transfer-Encoding");
                        response.ContentLength = output.Length;
                    }

                    if (Overruns(output.Length))
                    {
                        await EndMisframedAsync(grew: true).ConfigureAwait(false);
                        return false;
                    }

                    if (output.Length > 0)
                    {
                        started = true;
                        ResponseBytes += output.Length;
                        await response.Body.WriteAsync(output, cancellationToken).ConfigureAwait(false);
                    }

                    if (endOfStream)
                    {
                        if (response.ContentLength is { } length && ResponseBytes < length)
                        {
                            await EndMisframedAsync(grew: false).ConfigureAwait(false);
                            return false;
                        }

                        break;
                    }
                }
            }
            catch (Exception) when (Interrupted)
            {
                // A plugin answered or closed the stream from outside a callback while this waited on the upstream (or the
                // client): its reply goes out now, or the stream is reset if the response started (StopFromOutside).
                await WriteReplyAsync().ConfigureAwait(false);
                return false;
            }
            finally
            {
                if (held is not null)
                {
                    // A read still under way fills the chunk: it ends before the chunk goes back to the pool.
                    await held.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        _responseEnded = true;
        // The trailers as the plugins left them (HTTP/1.1 clients get none: Kestrel sends trailers over HTTP/2 and 3).
        if (response.SupportsTrailers())
        {
            string? unsendable = null;
            await _turn.WaitAsync().ConfigureAwait(false);
            try
            {
                lock (_state)
                {
                    if (ResponseTrailers is { } trailers)
                    {
                        // What HttpClient read from an HTTP/1.1 upstream (YARP's path), or what a plugin added, may hold
                        // fields an HTTP/2 client resets the stream over: those are left out. A field Kestrel cannot write (a
                        // plugin's empty or pseudo-header name, a control character) failed the stream as an unexpected error
                        // with a stack trace; it is refused as the response headers' are, and no trailer is written.
                        foreach (var (name, _) in trailers.Entries)
                        {
                            unsendable ??= TrailerFields.IsForbidden(name) ? null : UnsendableField(trailers, name, "response trailer");
                        }

                        foreach (var (name, value) in unsendable is null ? trailers.Entries : [])
                        {
                            if (!TrailerFields.IsForbidden(name))
                            {
                                response.AppendTrailer(name, value);
                            }
                        }
                    }
                }
            }
            finally
            {
                ReleaseTurn();
            }

            if (unsendable is not null)
            {
                // The body went out: the stream is reset, as for a response the plugins left misframed.
                var reply = LocalReply.InvalidResponseFromPlugins();
                LogInvalidResponse(_log, reply.Details, Context.Request.Method, Context.Request.Path.Value ?? "", reply.StatusCode,
                    unsendable + "; its body had gone out, so its stream is reset");
                Reply ??= reply;
                await WriteReplyAsync().ConfigureAwait(false);
            }
        }

        return false;
    }

    /// <summary>Whether <paramref name="count"/> more body bytes would pass the content-length the response went out with.</summary>
    private bool Overruns(int count) => Context.Response.ContentLength is { } length && ResponseBytes + count > length;

    /// <summary>
    /// Ends a response whose body the plugins grew past, or shrank below, the content-length of its head (a streamed body
    /// is not held, so its head keeps the upstream's length): a 500 if none of it went out yet, else the stream is reset,
    /// as a client would otherwise read a truncated body, or the excess as the next response.
    /// </summary>
    private async Task EndMisframedAsync(bool grew)
    {
        var response = Context.Response;
        LogMisframed(_log, Context.Request.Method, Context.Request.Path.Value ?? "", grew ? "grew" : "shrank", response.ContentLength ?? 0,
            grew ? "past" : "below", ResponseBytes, response.HasStarted ? "the response had started, so its stream was reset" : "answered 500");
        Reply ??= LocalReply.InvalidResponseFromPlugins();
        await WriteReplyAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// One chunk of the upstream's response body through the chain (with the upstream's <paramref name="trailers"/> at its
    /// end, if any); null when the stream stopped: a plugin stopped it (here or on the request's side), or the plugins hold
    /// more than the buffer limit (500).
    /// </summary>
    private async ValueTask<byte[]?> PushResponseChunkAsync(byte[] chunk, bool endOfStream, HeaderMap? trailers)
    {
        await _turn.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Stopped)
            {
                return null;
            }

            if (Overflows(request: false, chunk.Length))
            {
                Reply = ResponseTooLarge();
                return null;
            }

            var output = trailers is not null
                ? await FinishBodyWithTrailersAsync(request: false, chunk, trailers).ConfigureAwait(false)
                : await PushBodyAsync(request: false, chunk, endOfStream).ConfigureAwait(false);
            var held = output is null ? 0 : BufferedBytes(request: false);
            if (held > _options.MaxBufferedBodyBytes)
            {
                Reply = ResponseTooLarge();
                return null;
            }

            _responseHeld = held > 0;
            return output;
        }
        finally
        {
            ReleaseTurn();
        }
    }

    /// <summary>
    /// Envoy's addEncodedTrailers and addDecodedTrailers: in the last body callback of a direction (<paramref name="request"/>:
    /// the request's, when the client sent no trailers) a plugin may create that direction's trailers, sent where its
    /// protocol carries them (a response's to a client that reads trailers, a request's to a chunked HTTP/1.1 upstream).
    /// Null outside that callback (a callout's callback, another plugin's): the map is then simply absent.
    /// </summary>
    public HeaderMap? TrailersCreatedAtEnd(StreamHost host, bool request)
    {
        if (!ReferenceEquals(request ? _endingRequest : _endingResponse, host))
        {
            return null;
        }

        // Reached from a hostcall, which holds the lock already (it is reentrant).
        lock (_state)
        {
            var shared = request ? RequestTrailers : ResponseTrailers;
            if (host.Entry.LogOnly)
            {
                // A LOG_ONLY plugin works on a map that never reaches the wire (ObserveBody counts what it adds).
                var copy = Copy(shared) ?? new HeaderMap(0);
                SetTrailers(host, request, copy);
                return copy;
            }

            if (shared is null)
            {
                shared = new HeaderMap(4);
                if (request)
                {
                    RequestTrailers = shared;
                    _requestTrailersByPlugin = true;
                }
                else
                {
                    ResponseTrailers = shared;
                }

                foreach (var other in _hosts)
                {
                    if (!other.Entry.LogOnly)
                    {
                        SetTrailers(other, request, shared);
                    }
                }
            }

            return shared;
        }

        static void SetTrailers(StreamHost host, bool request, HeaderMap map)
        {
            if (request)
            {
                host.RequestTrailers = map;
            }
            else
            {
                host.ResponseTrailers = map;
            }
        }
    }

    private static HeaderMap ToMap(IReadOnlyList<KeyValuePair<string, string>> fields)
    {
        var map = new HeaderMap(fields.Count);
        foreach (var (name, value) in fields)
        {
            map.Add(name, value);
        }

        return map;
    }

    private static HeaderMap ToMap(System.Net.Http.Headers.HttpHeaders headers)
    {
        var map = new HeaderMap(headers.NonValidated.Count);
        foreach (var header in headers.NonValidated)
        {
            foreach (var value in header.Value)
            {
                map.Add(header.Key, value);
            }
        }

        return map;
    }

    /// <summary>
    /// Runs one body chunk through the plugins (request: chain order; response: reverse). Each plugin
    /// has its own buffer: while it pauses, chunks accumulate there and it is called again with the
    /// cumulative size; when it continues, its buffer moves on to the next plugin. A plugin that pauses
    /// at the end of the body stops the stream until it resumes, answers or closes it (after a callout,
    /// say), as in Envoy. Returns what left the chain (empty while held), or null when a plugin stopped
    /// the stream (<see cref="Reply"/>, <see cref="Closed"/>). <paramref name="from"/> is the first plugin's place in
    /// the direction's order: bytes a plugin released go on from the plugin after it.
    /// </summary>
    private async ValueTask<byte[]?> PushBodyAsync(bool request, byte[] chunk, bool endOfStream, int from = 0)
    {
        var data = chunk;
        for (var n = from; n < _hosts.Length; n++)
        {
            var host = _hosts[request ? n : _hosts.Length - 1 - n];
            // Only plugins that saw the request see its bodies (a local reply may come before later ones did).
            if (host.Skipped || host.Stream is not { Failure: null } || !host.RequestStarted)
            {
                continue;
            }

            switch (PushBodyTo(host, host.Stream, request, ref data, endOfStream))
            {
                case BodyStep.Stopped:
                    return null;
                case BodyStep.Held:
                    return [];
                case BodyStep.Paused:
                    // data is what the plugin let go before it paused (if anything); what it held follows on resume.
                    var before = data;
                    if (await WaitForBodyResumeAsync(host, request).ConfigureAwait(false) is not { } held)
                    {
                        return null;
                    }

                    data = before.Length == 0 ? held : [.. before, .. held];
                    break;
            }

            // Envoy's decodeData and encodeData: trailers this plugin created in its last body callback
            // (TrailersCreatedAtEnd) end the stream in its place, so the plugins after it get the body with
            // end_of_stream false and then their trailers callback (before, the body with end_of_stream, and no trailers).
            // A local reply's body (Reply set) goes without trailers.
            if (endOfStream && !_upgraded && Reply is null && CreatedTrailers(request) is { } created)
            {
                return await FinishBodyWithTrailersAsync(request, data, created, n + 1).ConfigureAwait(false);
            }
        }

        return data;
    }

    /// <summary>The trailers of <paramref name="request"/>'s direction, when a plugin created some at the end of its body.</summary>
    private HeaderMap? CreatedTrailers(bool request)
    {
        lock (_state)
        {
            return (request ? RequestTrailers : ResponseTrailers) is { Count: > 0 } trailers ? trailers : null;
        }
    }

    /// <summary>
    /// A plugin paused at the end of a body: waits for it to resume (its buffer then moves on), answer,
    /// close or fail; a plugin that never decides gets the pause timeout's 503. Null when the stream stopped.
    /// </summary>
    private async Task<byte[]?> WaitForBodyResumeAsync(StreamHost host, bool request)
    {
        var signal = await WaitForPluginAsync(host, request).ConfigureAwait(false);
        return ApplyBodySignal(host, signal) ? TakeHeld(host, request) : null;
    }

    /// <summary>True when, after <paramref name="request"/>'s direction's last step, a plugin (not LOG_ONLY) holds part of its body.</summary>
    public bool Holds(bool request) => request ? _requestHeld : _responseHeld;

    /// <summary>
    /// Completes when a plugin holding part of <paramref name="request"/>'s body decided on it from outside a callback
    /// (resumed the direction, answered, closed or failed the stream: <see cref="ReleaseHeldAsync"/> applies it), or the
    /// stream stopped; at once when that happened already. Called by the direction's own task, while it holds a body.
    /// </summary>
    public Task WhenHeldDecided(bool request)
    {
        var decided = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // A full fence, as is WakeHeld's exchange: a decision kept after this completes it; one kept before is seen below.
        Interlocked.Exchange(ref request ? ref _requestDecided : ref _responseDecided, decided);
        if (Stopped)
        {
            return Task.CompletedTask;
        }

        foreach (var host in _hosts)
        {
            if (HoldsFor(host) && host.HasSignal(request))
            {
                return Task.CompletedTask;
            }
        }

        return decided.Task;
    }

    /// <summary>
    /// A plugin's decision was kept for the exchange (<paramref name="request"/>'s direction; null: the stream's stop), or
    /// the stream stopped: a direction reading on while a plugin holds its body stops waiting for the peer alone.
    /// </summary>
    public void WakeHeld(bool? request)
    {
        if (request is null or true)
        {
            Interlocked.Exchange(ref _requestDecided, null)?.TrySetResult();
        }

        if (request is null or false)
        {
            Interlocked.Exchange(ref _responseDecided, null)?.TrySetResult();
        }
    }

    /// <summary>
    /// Applies what the plugins holding part of <paramref name="request"/>'s body decided from outside a callback, as
    /// soon as they did: a reply or close stops the stream; a resume lets what that plugin held go on through the plugins
    /// after it (end_of_stream false), as Envoy's continueDecoding and continueEncoding send buffered data on at once.
    /// Returns what left the chain (empty when nothing did), or null when the stream stopped.
    /// </summary>
    public async ValueTask<byte[]?> ReleaseHeldAsync(bool request)
    {
        await _turn.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Stopped)
            {
                return null;
            }

            byte[]? output = [];
            for (var n = 0; n < _hosts.Length; n++)
            {
                var host = _hosts[request ? n : _hosts.Length - 1 - n];
                if (!HoldsFor(host) || host.TakeSignal(request) is not { } signal)
                {
                    continue;
                }

                if (!ApplyBodySignal(host, signal))
                {
                    return null;
                }

                if (TakeHeld(host, request) is { Length: > 0 } held)
                {
                    // Plugins after this one may hold in turn, or carry pending decisions of their own (taken on the way,
                    // or by the next wake).
                    output = await PushBodyAsync(request, held, endOfStream: false, n + 1).ConfigureAwait(false);
                    break;
                }
            }

            if (output is null)
            {
                return null;
            }

            var stillHeld = BufferedBytes(request) > 0;
            if (request)
            {
                _requestHeld = stillHeld;
            }
            else
            {
                _responseHeld = stillHeld;
            }

            if (output.Length > 0)
            {
                StreamActive();
            }

            return output;
        }
        finally
        {
            ReleaseTurn();
        }
    }

    /// <summary>
    /// A plugin whose body callbacks run and whose held bytes count (<see cref="BufferedBytes"/>): not LOG_ONLY, skipped or
    /// failed, and it saw the request.
    /// </summary>
    private static bool HoldsFor(StreamHost host) =>
        !host.Entry.LogOnly && !host.Skipped && host.Stream is { Failure: null } && host.RequestStarted;

    /// <summary>
    /// The request body's read while a plugin holds part of it, made the first time one does (reading into
    /// <paramref name="buffer"/>, which goes with it), then the same one: a read it started may still be under way.
    /// </summary>
    public HeldBodyRead HeldRequestRead(byte[] buffer, CancellationToken cancellationToken) =>
        _requestRead ??= HeldBodyRead.ForRequest(this, _requestReader, buffer, cancellationToken);

    /// <summary>The request body's held read, if one was made (<see cref="HeldRequestRead"/>).</summary>
    public HeldBodyRead? RequestRead => _requestRead;

    /// <summary>
    /// Ends a read of the request body still waiting on the client, started while a plugin held part of the body: the
    /// request must not end with a read of its body under way. Nothing to do unless a plugin held the request body.
    /// </summary>
    public ValueTask EndRequestReadAsync() => _requestRead?.DisposeAsync() ?? ValueTask.CompletedTask;

    /// <summary>
    /// Waits, without the turn, for <paramref name="host"/>'s plugin to decide on <paramref name="request"/>'s paused
    /// direction: the other direction runs meanwhile, and a stop it makes ends this wait (<see cref="ReleaseTurn"/>).
    /// Called holding the turn, and returns holding it again.
    /// </summary>
    private async Task<StreamSignal> WaitForPluginAsync(StreamHost host, bool request)
    {
        // The wait is in place before the turn goes (WaitAsync's part before its first await runs here): a stop made
        // as soon as the other direction has the turn finds it.
        var decision = host.WaitAsync(request, _options.PauseTimeout, Context.RequestAborted);
        _turn.Release();
        try
        {
            return await decision.ConfigureAwait(false);
        }
        finally
        {
            await _turn.WaitAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Ends a step of one direction: the other may run. If this step stopped the stream (a reply, a close, a failure
    /// closed), a direction waiting for a plugin's resume waits no longer: the stream ends once, as Envoy's does.
    /// </summary>
    private void ReleaseTurn()
    {
        if (Stopped && !_waitsEnded)
        {
            _waitsEnded = true;
            foreach (var host in _hosts)
            {
                host.EndWaits();
            }

            WakeHeld(null);
        }

        _turn.Release();
    }

    /// <summary>
    /// FAIL_RELOAD's one retry: the failed stream ends and a fresh one on a healthy VM shard takes its place
    /// (null when the plugin does not reload, or already did for this request). Only a failure in
    /// on_request_headers is retried: that is the stream's first callback, so the fresh context replays all the
    /// plugin saw. A fresh context given a later callback alone would decide without the state the plugin built
    /// before it (a body authorizer that marked the stream in on_request_headers would let the body through), so a
    /// failure there fails the request as FAIL_CLOSE does; the shard is rebuilt either way. A request that found no
    /// healthy VM (every shard waits out its rebuild backoff) is not retried: the fresh stream would find none either, and
    /// a plugin that traps on every request made that a "retrying" line and a retry count per request, unthrottled.
    /// </summary>
    private HttpStream? RetryOnFreshVm(StreamHost host, PluginFailure? failure, Phase phase, RequestSnapshot? before)
    {
        if (phase != Phase.RequestHeaders || host.Entry.Spec.FailStrategy != FailStrategy.FAIL_RELOAD || host.Retried || host.Entry.LogOnly ||
            failure is { Kind: TrapKind.Unavailable } || host.Entry.Plugin is not { } plugin)
        {
            return null;
        }

        // The failed attempt's header edits (an authorization it removed, an x-user it set) and properties are undone:
        // the fresh stream sees what the first one saw, and an edit made before the trap is not made twice.
        before?.Restore(this);
        host.Retried = true;
        host.Entry.Metrics.ReloadRetries.Inc();
        LogRetry(_log, host.Entry.Spec.Key, Context.Request.Method, Context.Request.Path.Value ?? "", failure?.ToString() ?? "");
        host.Stream?.Complete();
        var fresh = plugin.CreateHttpStream(host);
        host.Stream = fresh;
        return fresh;
    }

    /// <summary>Applies a resume, reply, close or failure that reached a body phase; false when the stream stopped.</summary>
    private bool ApplyBodySignal(StreamHost host, StreamSignal signal)
    {
        if (ApplyDecision(host, signal) is { } resumed)
        {
            return resumed;
        }

        ApplyFailure(host, signal.Failure ?? new PluginFailure(TrapKind.Unavailable, "callback", "no healthy VM"));
        // Failing open passes on what the plugin held; failing closed stopped the stream.
        return !Stopped;
    }

    /// <summary>
    /// What a paused plugin decided: true to resume, false when it answered, closed or never decided (the
    /// pause timeout's 503); null when it failed (the caller applies the fail strategy). A stop both directions
    /// waited on is applied by the first to take the turn; the second finds the stream stopped, or, after a failure
    /// that failed open, the plugin skipped.
    /// </summary>
    private bool? ApplyDecision(StreamHost host, StreamSignal signal)
    {
        if (Stopped)
        {
            return false;
        }

        switch (signal.Kind)
        {
            case StreamSignalKind.Continue:
                return true;
            case StreamSignalKind.Ended:
                return false;
            case StreamSignalKind.Failed when host.Skipped:
                return true;
            case StreamSignalKind.LocalResponse:
                Reply = signal.Reply;
                _replyByPlugin = true;
                return false;
            case StreamSignalKind.Close:
                Closed = true;
                return false;
            case StreamSignalKind.TimedOut:
                // Envoy has no such timeout: a plugin that never resumes holds its stream until the client gives up.
                // Named here, as nothing else tells which plugin of the chain held it.
                LogPauseTimeout(_log, host.Entry.Spec.Key, Context.Request.Method, Context.Request.Path.Value ?? "", _options.PauseTimeout.TotalSeconds);
                Reply = new LocalResponse(503, "wasm_pause_timeout", Encoding.UTF8.GetBytes("plugin did not resume the stream"), new HeaderMap(), null);
                return false;
            default:
                return null;
        }
    }

    /// <summary>What <paramref name="host"/> held of the body, which moves on; its buffer is emptied.</summary>
    private byte[] TakeHeld(StreamHost host, bool request)
    {
        lock (_state)
        {
            if ((request ? host.RequestBody : host.ResponseBody) is not { Length: > 0 } held)
            {
                return [];
            }

            var data = held.ToArray();
            held.Clear();
            return data;
        }
    }

    /// <summary>
    /// The end of a body that trailers follow (Envoy): each plugin in turn gets what is still
    /// flowing as a body callback with end_of_stream false, then its trailers callback (which may
    /// pause); afterwards whatever it held moves on to the next plugin. Returns the bytes that left
    /// the chain, or null when a plugin stopped the stream. <paramref name="from"/> is the first plugin's place in the
    /// direction's order (after the one that created the trailers at the end of its body).
    /// </summary>
    private async Task<byte[]?> FinishBodyWithTrailersAsync(bool request, byte[] chunk, HeaderMap trailers, int from = 0)
    {
        lock (_state)
        {
            if (request)
            {
                RequestTrailers = trailers;
            }
            else
            {
                ResponseTrailers = trailers;
            }
        }

        var phase = request ? Phase.RequestTrailers : Phase.ResponseTrailers;
        var data = chunk;
        for (var n = from; n < _hosts.Length; n++)
        {
            var host = _hosts[request ? n : _hosts.Length - 1 - n];
            lock (_state)
            {
                if (request)
                {
                    host.RequestTrailers = trailers;
                }
                else
                {
                    host.ResponseTrailers = trailers;
                }
            }

            if (host.Skipped || host.Stream is null)
            {
                continue;
            }

            if (data.Length > 0 && PushBodyTo(host, host.Stream, request, ref data, endOfStream: false) == BodyStep.Stopped)
            {
                return null;
            }

            if (host.Skipped || host.Stream is null || !await RunOneAsync(host, host.Stream, phase, endOfStream: false).ConfigureAwait(false))
            {
                if (Stopped)
                {
                    return null;
                }

                continue;
            }

            // Trailers end the stream: what this plugin held (paused on the body) is released.
            if (!host.Entry.LogOnly && TakeHeld(host, request) is { Length: > 0 } held)
            {
                data = data.Length == 0 ? held : [.. data, .. held];
            }
        }

        return data;
    }

    /// <summary>One plugin's body callback for <paramref name="data"/>; on Continue, <paramref name="data"/> becomes what it passes on.</summary>
    private BodyStep PushBodyTo(StreamHost host, HttpStream stream, bool request, ref byte[] data, bool endOfStream)
    {
        var phase = request ? Phase.RequestBody : Phase.ResponseBody;
        if (host.Entry.LogOnly)
        {
            ObserveBody(host, stream, request, data, endOfStream);
            return BodyStep.Continue;
        }

        // A decision the plugin made while it held the body (a callout's answer, say) takes effect now:
        // a reply or close stops the stream; a resume lets what it held go on ahead of this chunk.
        byte[]? released = null;
        if (host.TakeSignal(request) is { } signal)
        {
            if (!ApplyBodySignal(host, signal))
            {
                return BodyStep.Stopped;
            }

            released = TakeHeld(host, request);
            if (host.Skipped)
            {
                data = [.. released, .. data];
                return BodyStep.Continue;
            }
        }

        BodyBuffer buffer;
        lock (_state)
        {
            // A callout's answer may be editing what the plugin holds right now, on its VM's thread.
            buffer = (request ? host.RequestBody : host.ResponseBody) ?? new BodyBuffer(data.Length);
            SetBody(host, request, buffer);
            buffer.Append(data);
        }

        var result = Invoke(host, stream, phase, endOfStream);
        if (Closed)
        {
            return BodyStep.Stopped;
        }

        switch (result.Status)
        {
            case FilterStatus.Failed:
                ApplyFailure(host, result.Failure ?? new PluginFailure(TrapKind.Unavailable, "callback", "no healthy VM"));
                if (Stopped)
                {
                    return BodyStep.Stopped;
                }

                break;
            case FilterStatus.LocalResponse:
                Reply = result.LocalResponse;
                _replyByPlugin = true;
                return BodyStep.Stopped;
            case FilterStatus.Pause when !endOfStream:
                data = released ?? [];
                return released is { Length: > 0 } ? BodyStep.Continue : BodyStep.Held;
            case FilterStatus.Pause:
                // Paused on the whole body: the stream waits for the plugin (resume, reply or close).
                data = released ?? [];
                return BodyStep.Paused;
        }

        lock (_state)
        {
            if (buffer.Length != data.Length || !buffer.Span.SequenceEqual(data))
            {
                // The plugin rewrote the chunk or released what it held: pass on its buffer.
                data = buffer.ToArray();
            }

            buffer.Clear();
        }

        if (released is { Length: > 0 })
        {
            data = [.. released, .. data];
        }

        return BodyStep.Continue;
    }

    /// <summary>
    /// A LOG_ONLY plugin's body callback, on its own copy: while it pauses, the copy accumulates and it is called
    /// again with the cumulative size, as an enforcing plugin is, but the real body streams on. Holding more than
    /// the proxy buffers is where an enforcing plugin would have failed the stream (413, or 500 for a response):
    /// that is counted once and the plugin gets no more of this body.
    /// </summary>
    private void ObserveBody(StreamHost host, HttpStream stream, bool request, byte[] data, bool endOfStream)
    {
        var copy = request ? host.LogOnlyRequestBody ??= new LogOnlyBody() : host.LogOnlyResponseBody ??= new LogOnlyBody();
        if (copy.Abandoned)
        {
            return;
        }

        if (host.DefersCallbacks && host.TryDefer(request ? Phase.RequestBody : Phase.ResponseBody, endOfStream, map: null))
        {
            if (!host.PauseEnded)
            {
                DeferBody(host, copy, request, data);
            }

            return;
        }

        lock (_state)
        {
            copy.Append(data);
        }

        DeliverBody(host, stream, request, copy, endOfStream);
    }

    /// <summary>
    /// The body callback for what <paramref name="host"/>'s LOG_ONLY copy holds (a chunk just added, or a body kept for
    /// it while its request-headers pause was unresolved).
    /// </summary>
    private void DeliverBody(StreamHost host, HttpStream stream, bool request, LogOnlyBody copy, bool endOfStream)
    {
        HeaderMap? trailers;
        lock (_state)
        {
            SetBody(host, request, copy.View);
            trailers = request ? host.RequestTrailers : host.ResponseTrailers;
        }

        var seen = Invoke(host, stream, request ? Phase.RequestBody : Phase.ResponseBody, endOfStream);
        bool rewrote, createdTrailers;
        lock (_state)
        {
            rewrote = copy.TakeRewrite();
            // Trailers it created at the end of the body (TrailersCreatedAtEnd) count as a trailers callback's edits do.
            var (mine, shared) = request ? (host.RequestTrailers, RequestTrailers) : (host.ResponseTrailers, ResponseTrailers);
            createdTrailers = trailers is null && mine is { } created && (created.Count > 0 || shared is not null) && !SameHeaders(created, shared);
        }

        if (rewrote)
        {
            RecordLogOnly(host, "body_mutation");
        }

        if (createdTrailers)
        {
            RecordLogOnly(host, "header_mutation");
        }

        switch (seen.Status)
        {
            case FilterStatus.LocalResponse:
                RecordLogOnly(host, "local_response");
                break;
            case FilterStatus.Pause:
                if (!copy.PauseCounted)
                {
                    copy.PauseCounted = true;
                    RecordLogOnly(host, "pause");
                }

                host.LogOnlyPaused(request, map: null, endOfStream: endOfStream);

                if (!endOfStream && copy.View.Length > _options.MaxBufferedBodyBytes)
                {
                    RecordLogOnly(host, request ? "request_payload_too_large" : "response_payload_too_large");
                    lock (_state)
                    {
                        copy.Abandon();
                        SetBody(host, request, copy.View);
                    }

                    // An enforcing plugin's stream would have ended here: no decision on this body is waited for.
                    host.LogOnlyBodyReleased(request);
                }

                // Held: the next chunk is added to it (at the end of the body, a callout may still read it).
                return;
            case FilterStatus.Failed:
                ApplyFailure(host, seen.Failure ?? new PluginFailure(TrapKind.Unavailable, "callback", "no healthy VM"));
                break;
        }

        lock (_state)
        {
            copy.Clear();
        }

        host.LogOnlyBodyReleased(request);
    }

    /// <summary>
    /// A LOG_ONLY plugin resumed a body it paused on from outside a callback: what it held goes, as an enforcing plugin's
    /// would have gone on. True when it rewrote it meanwhile.
    /// </summary>
    public bool LetGo(LogOnlyBody body)
    {
        lock (_state)
        {
            var rewrote = body.TakeRewrite();
            body.Clear();
            return rewrote;
        }
    }

    private static void SetBody(StreamHost host, bool request, BodyBuffer buffer)
    {
        if (request)
        {
            host.RequestBody = buffer;
        }
        else
        {
            host.ResponseBody = buffer;
        }
    }

    /// <summary>
    /// Sends <see cref="Reply"/> (resets the stream instead once it was closed, the response started, or the plugins let
    /// an upgrade's 101 through, which YARP may not have sent yet). As
    /// in Envoy, a reply decided before any response arrived passes through the response callbacks of the
    /// plugins that saw the request, in reverse order, so they can add headers to it, rewrite it and log it;
    /// a reply or close they attempt meanwhile is ignored. Sent once.
    /// </summary>
    public async Task WriteReplyAsync()
    {
        var response = Context.Response;
        if (Closed || response.HasStarted || _upgraded)
        {
            if (!Closed && Reply is { Details: "request_payload_too_large" or "response_payload_too_large" } tooLarge
                && Interlocked.Exchange(ref _resetLogged, 1) == 0)
            {
                // Envoy's rq_too_large / rs_too_large, past the point where a reply can go: said once, not left to a bare reset.
                LogTooLargeReset(_log, tooLarge.Details, Context.Request.Method, Context.Request.Path.Value ?? "", _options.MaxBufferedBodyBytes,
                    _upgraded ? "of the upgraded stream" : "after the response started");
            }

            NoteReplyReset();
            Context.Abort();
            return;
        }

        HeaderMap headers;
        byte[] body;
        await _turn.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Reply is not { } reply || _replyWritten)
            {
                return;
            }

            _replyWritten = true;
            (headers, body) = LocalReply.Build(Context.Request, reply);
            if (ResponseHeaders is null)
            {
                body = await RunReplyThroughPluginsAsync(reply, headers, body).ConfigureAwait(false);
                (LocalResponse Reply, string Reason)? refused;
                lock (_state)
                {
                    // Written after the turn goes, while a callout's answer may still edit the plugins' map.
                    headers = Copy(headers)!;
                    refused = UnsendableResponse(headers, Names(headers));
                }

                if (refused is { } refusal)
                {
                    // Not through the plugins again: they made the last one unsendable.
                    LogInvalidReply(_log, refusal.Reply.Details, Context.Request.Method, Context.Request.Path.Value ?? "", refusal.Reply.StatusCode, refusal.Reason);
                    Reply = refusal.Reply;
                    (headers, body) = LocalReply.Build(Context.Request, refusal.Reply);
                    ResponseBytes = body.Length;
                    SetStatus(Context.Response, headers.Get(":status"));
                }
            }
            else
            {
                // A reply made on the response's side replaces the upstream's response without the plugins' response
                // callbacks: on_log and the response properties describe what the client got, as Envoy's
                // sendDirectLocalReply hands its headers to the stream for the access log. The upstream's fields, size
                // and trailers are no longer the response.
                lock (_state)
                {
                    ResponseHeaders = headers;
                    ResponseTrailers = null;
                    foreach (var host in _hosts)
                    {
                        // A LOG_ONLY plugin reads the reply on its own copy (its on_log), never the real map; one whose
                        // callbacks wait has none until they run.
                        host.ResponseHeaders = !host.Entry.LogOnly ? headers : host.DefersCallbacks ? null : Copy(headers);
                        host.ResponseTrailers = null;
                    }

                    SetStatus(Context.Response, headers.Get(":status"));
                }

                ResponseBytes = body.Length;
            }
        }
        finally
        {
            ReleaseTurn();
        }

        if (Closed)
        {
            Context.Abort();
            return;
        }

        await LocalReply.WriteAsync(Context, headers, body).ConfigureAwait(false);
    }

    /// <summary>The response callbacks for a local reply; returns its body as the plugins left it.</summary>
    private async Task<byte[]> RunReplyThroughPluginsAsync(LocalResponse reply, HeaderMap headers, byte[] body)
    {
        // The whole map is written afterwards (LocalReply.WriteAsync): no change tracking needed.
        lock (_state)
        {
            ResponseHeaders = headers;
            foreach (var host in _hosts)
            {
                // A LOG_ONLY plugin gets its copy as its callback runs (PrepareCopies).
                if (!host.Entry.LogOnly)
                {
                    host.ResponseHeaders = headers;
                }
            }

            SetStatus(Context.Response, headers.Get(":status"));
        }

        for (var n = _hosts.Length - 1; n >= 0 && !Closed; n--)
        {
            var host = _hosts[n];
            if (host.RequestStarted && !host.Skipped && host.Stream is { Failure: null } stream)
            {
                await RunOneAsync(host, stream, Phase.ResponseHeaders, endOfStream: body.Length == 0).ConfigureAwait(false);
                Reply = reply;
            }
        }

        if (body.Length > 0 && !Closed)
        {
            var output = await PushBodyAsync(request: false, body, endOfStream: true).ConfigureAwait(false);
            Reply = reply;
            if (output is not null && (output.Length != body.Length || !output.AsSpan().SequenceEqual(body)))
            {
                body = output;
                lock (_state)
                {
                    headers.Set("content-length", body.Length.ToString(CultureInfo.InvariantCulture));
                }
            }
        }

        ResponseBytes = body.Length;
        return body;
    }

    /// <summary>How relaying the response failed over YARP once it was under way (the client or the upstream reset it); null if it did not.</summary>
    public ForwardOutcome? RelayFailure { get; set; }

    /// <summary>
    /// A failure of the proxy's own (no I/O or cancellation) while relaying the response over YARP, which would report it
    /// as the upstream's bad head (502, UPE): rethrown by the request handler, which ends the request as on the fast path.
    /// </summary>
    public System.Runtime.ExceptionServices.ExceptionDispatchInfo? RelayException { get; set; }

    /// <summary>The cluster the request was forwarded to (<c>cluster_name</c>, <c>upstream.*</c> properties); null until it is.</summary>
    public (string Name, Uri Address)? Upstream { get; set; }

    /// <summary>on_done / on_log / on_delete for every plugin stream.</summary>
    public void Complete()
    {
        EndInterrupts();
        _completed = Stopwatch.GetTimestamp();
        // Stopped, not disposed: a body read still winding down may touch the timer (StreamActive, StreamIdleToken), and
        // a disposed source would throw there. A stopped timer holds nothing.
        _idle?.CancelAfter(Timeout.InfiniteTimeSpan);
        foreach (var host in _hosts)
        {
            if (host.Entry.LogOnly)
            {
                if (host.LogOnlyPauses || host.DefersCallbacks)
                {
                    // Its decision may come after this request is over, and read properties then.
                    _facts ??= KeepContextFacts();
                    if (host.Linger(_options.PauseTimeout))
                    {
                        continue;
                    }
                }

                // Whatever it decided, nothing kept for it outlives its context: their bytes go back to the budget.
                DropKeptBodies(host);
            }

            if (host.Stream is { } stream)
            {
                var start = Stopwatch.GetTimestamp();
                stream.Complete();
                host.Entry.Metrics.StreamEndLatency.Observe(Stopwatch.GetTimestamp() - start);
            }
        }
    }

    private async Task<bool> RunAsync(Phase phase, bool endOfStream)
    {
        var reverse = phase is Phase.ResponseHeaders or Phase.ResponseBody;
        for (var n = 0; n < _hosts.Length; n++)
        {
            var host = _hosts[reverse ? _hosts.Length - 1 - n : n];
            if (phase == Phase.RequestHeaders && host.Stream is not null)
            {
                // The request reached it: one an earlier plugin answered or failed closed never does.
                host.Entry.Metrics.Requests.Inc();
            }

            if (host.Skipped || host.Stream is null)
            {
                continue;
            }

            if (!await RunOneAsync(host, host.Stream, phase, endOfStream).ConfigureAwait(false))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>One plugin's callback with its fail strategy and pause handling; false when the stream stopped.</summary>
    private async Task<bool> RunOneAsync(StreamHost host, HttpStream stream, Phase phase, bool endOfStream)
    {
        if (host.Entry.LogOnly && host.DefersCallbacks && phase != Phase.RequestHeaders && Defer(host, phase, endOfStream))
        {
            return true;
        }

        // FAIL_RELOAD's retry replays the request as this plugin first saw it: what the failed attempt changed is put back.
        var before = phase == Phase.RequestHeaders && host.Entry.Spec.FailStrategy == FailStrategy.FAIL_RELOAD && !host.Entry.LogOnly && !host.Retried
            ? RequestSnapshot.Take(this)
            : null;
        var result = Invoke(host, stream, phase, endOfStream);
        while (true)
        {
            if (Closed)
            {
                return false;
            }

            if (result.Status == FilterStatus.Failed)
            {
                if (RetryOnFreshVm(host, result.Failure, phase, before) is { } fresh)
                {
                    // The failed shard is rebuilt with backoff; the callback runs again on a healthy one.
                    result = Invoke(host, fresh, phase, endOfStream);
                    continue;
                }

                ApplyFailure(host, result.Failure ?? new PluginFailure(TrapKind.Unavailable, "callback", "no healthy VM"));
                if (Stopped)
                {
                    return false;
                }

                break;
            }

            if (result.Status == FilterStatus.LocalResponse)
            {
                if (host.Entry.LogOnly)
                {
                    RecordLogOnly(host, "local_response");
                    break;
                }

                Reply = result.LocalResponse;
                _replyByPlugin = true;
                return false;
            }

            if (result.Status == FilterStatus.Pause && phase is Phase.RequestHeaders or Phase.ResponseHeaders or Phase.RequestTrailers or Phase.ResponseTrailers)
            {
                if (host.Entry.LogOnly)
                {
                    RecordLogOnly(host, "pause");
                    // Nothing waits for it, but its decision (a callout's answer) is still counted when it comes.
                    host.LogOnlyPaused(phase is Phase.RequestHeaders or Phase.RequestTrailers, phase switch
                    {
                        Phase.RequestHeaders => host.RequestHeaders,
                        Phase.RequestTrailers => host.RequestTrailers,
                        Phase.ResponseHeaders => host.ResponseHeaders,
                        _ => host.ResponseTrailers,
                    }, defers: phase == Phase.RequestHeaders);
                    break;
                }

                var signal = await WaitForPluginAsync(host, phase is Phase.RequestHeaders or Phase.RequestTrailers).ConfigureAwait(false);
                if (ApplyDecision(host, signal) is not { } resumed)
                {
                    result = new FilterResult(FilterStatus.Failed, 0, null, signal.Failure);
                    continue;
                }

                if (!resumed)
                {
                    return false;
                }
            }

            // Continue (bodies, paused or not, go through PushBodyAsync).
            break;
        }

        return true;
    }

    private FilterResult Invoke(StreamHost host, HttpStream stream, Phase phase, bool endOfStream)
    {
        var logOnly = host.Entry.LogOnly;
        if (logOnly)
        {
            PrepareCopies(host, phase);
        }

        var result = Call(host, stream, phase, endOfStream);
        if (logOnly)
        {
            CompareCopies(host, phase);
        }
        else if (result.Status == FilterStatus.Failed)
        {
            return DecidedBeforeFailing(host, result, host.TakeStop()) ?? result;
        }
        else if (host.TakeStop() is { } stop && result.Status is FilterStatus.Continue or FilterStatus.Pause)
        {
            // proxy_close_stream (or a reply from outside a callback) made during or before this callback.
            if (stop.Kind == StreamSignalKind.Close)
            {
                Closed = true;
            }
            else
            {
                return new FilterResult(FilterStatus.LocalResponse, 0, stop.Reply, null);
            }
        }

        return result;
    }

    /// <summary>The plugin's callback for <paramref name="phase"/>, timed; what it sees is set up by the caller.</summary>
    private FilterResult Call(StreamHost host, HttpStream stream, Phase phase, bool endOfStream)
    {
        host.RequestStarted |= phase == Phase.RequestHeaders;
        host.DropStaleContinue(request: phase is Phase.RequestHeaders or Phase.RequestBody or Phase.RequestTrailers);
        // The last body callback of either direction, the one place a plugin may create its trailers (an upgraded
        // stream's request has none).
        _endingRequest = phase == Phase.RequestBody && endOfStream && !_upgraded ? host : null;
        _endingResponse = phase == Phase.ResponseBody && endOfStream ? host : null;
        var start = Stopwatch.GetTimestamp();
        var result = phase switch
        {
            Phase.RequestHeaders => stream.OnRequestHeaders(endOfStream),
            Phase.RequestBody => stream.OnRequestBody(endOfStream),
            Phase.RequestTrailers => stream.OnRequestTrailers(),
            Phase.ResponseHeaders => stream.OnResponseHeaders(endOfStream),
            Phase.ResponseBody => stream.OnResponseBody(endOfStream),
            _ => stream.OnResponseTrailers(),
        };
        _endingRequest = null;
        _endingResponse = null;
        var ticks = Stopwatch.GetTimestamp() - start;
        var metrics = host.Entry.Metrics;
        (phase switch
        {
            Phase.RequestHeaders => metrics.RequestHeadersLatency,
            Phase.RequestBody => metrics.RequestBodyLatency,
            Phase.RequestTrailers => metrics.RequestTrailersLatency,
            Phase.ResponseHeaders => metrics.ResponseHeadersLatency,
            Phase.ResponseBody => metrics.ResponseBodyLatency,
            _ => metrics.ResponseTrailersLatency,
        }).Observe(ticks);
        return result;
    }

    /// <summary>
    /// Under FAIL_OPEN, a local reply or stream close the plugin asked for before it failed still happens, as in Envoy, where
    /// both are after-VM-call actions that run whatever the call's end: failing open skips the plugin, not its decision (an
    /// authorizer whose deny path traps must not become an allow). Null when there is none, or under another strategy: FAIL_CLOSE
    /// answers 503, FAIL_RELOAD retries on a fresh stream context, which decides again.
    /// </summary>
    private FilterResult? DecidedBeforeFailing(StreamHost host, FilterResult failed, StreamSignal? stop)
    {
        var entry = host.Entry;
        if (entry.Spec.FailStrategy != FailStrategy.FAIL_OPEN || (failed.LocalResponse is null && stop is null))
        {
            return null;
        }

        // Its stream is done for, as a fail-open skip's: the reply's response callbacks pass it by.
        host.Skipped = true;
        var reply = failed.LocalResponse ?? (stop!.Kind == StreamSignalKind.Close ? null : stop.Reply);
        var (method, path) = RequestLine();
        LogDecidedBeforeFailing(_log, entry.Spec.Key, method, path, reply is null ? "its stream close" : $"its local reply {reply.StatusCode}",
            (failed.Failure ?? new PluginFailure(TrapKind.Unavailable, "callback", "no healthy VM")).ToString());
        if (reply is not null)
        {
            return new FilterResult(FilterStatus.LocalResponse, 0, reply, null);
        }

        Closed = true;
        return new FilterResult(FilterStatus.Continue, 0, null, null);
    }

    private void ApplyFailure(StreamHost host, PluginFailure failure)
    {
        var entry = host.Entry;
        if (entry.LogOnly || entry.Spec.FailStrategy == FailStrategy.FAIL_OPEN)
        {
            // A LOG_ONLY plugin never changes traffic, not even by failing.
            host.Skipped = true;
            entry.Metrics.FailOpen.Inc();
            if (Logged(entry, failure) is { } text)
            {
                var (method, path) = RequestLine();
                LogFailOpen(_log, entry.Spec.Key, method, path, entry.LogOnly ? "LOG_ONLY" : "FAIL_OPEN", text);
            }

            return;
        }

        // Its stream is done for: the 503's response callbacks skip it (its VM may be gone, and a second failure
        // there was counted, and logged, as another trap and another rejection of the same request).
        host.Skipped = true;
        entry.Metrics.FailClosed.Inc();
        if (Logged(entry, failure) is { } failed)
        {
            LogFailStream(_log, entry.Spec.Key, Context.Request.Method, Context.Request.Path.Value ?? "",
                Context.Response.HasStarted ? "its response had started, so its stream is reset" : "answered 503",
                // FAIL_RELOAD ends here after its one retry, or when there was no healthy VM to retry on.
                entry.Spec.FailStrategy == FailStrategy.FAIL_RELOAD ? "FAIL_RELOAD, not retried again" : "FAIL_CLOSE", failed);
        }

        Reply = new LocalResponse(503, "wasm_fail_stream", Encoding.UTF8.GetBytes("wasm_fail_stream"), new HeaderMap(), null);
    }

    /// <summary>
    /// The failure's text for the log, or null to leave it out: a trap is logged with every request it failed, but a plugin
    /// with no VM to run on (none healthy, or never loaded) fails every request alike, so that is logged once a second
    /// with the count of the ones left out (the metrics count them all).
    /// </summary>
    private static string? Logged(Chain.ChainEntry entry, PluginFailure failure)
    {
        if (failure.Kind != TrapKind.Unavailable)
        {
            return failure.ToString();
        }

        return !entry.UnavailableLog.TryEnter(out var suppressed) ? null
            : suppressed == 0 ? failure.ToString()
            : $"{failure} ({suppressed} more request(s) failed so in the last second, not logged)";
    }

    private void PrepareCopies(StreamHost host, Phase phase)
    {
        lock (_state)
        {
            PrepareCopiesLocked(host, phase);
        }
    }

    private void PrepareCopiesLocked(StreamHost host, Phase phase)
    {
        switch (phase)
        {
            case Phase.RequestHeaders:
                host.RequestHeaders = Copy(RequestHeaders);
                break;
            case Phase.ResponseHeaders:
                host.ResponseHeaders = Copy(ResponseHeaders);
                break;
            case Phase.RequestTrailers:
                host.RequestTrailers = Copy(RequestTrailers);
                break;
            case Phase.ResponseTrailers:
                host.ResponseTrailers = Copy(ResponseTrailers);
                break;
            default:
                // Bodies: PushBody hands LOG_ONLY plugins their own copy of each chunk.
                break;
        }
    }

    private void CompareCopies(StreamHost host, Phase phase)
    {
        bool changed;
        lock (_state)
        {
            changed = phase switch
            {
                Phase.RequestHeaders => !SameHeaders(host.RequestHeaders, RequestHeaders),
                Phase.ResponseHeaders => !SameHeaders(host.ResponseHeaders, ResponseHeaders),
                Phase.RequestTrailers => !SameHeaders(host.RequestTrailers, RequestTrailers),
                Phase.ResponseTrailers => !SameHeaders(host.ResponseTrailers, ResponseTrailers),
                _ => false,
            };
        }

        if (changed)
        {
            RecordLogOnly(host, "header_mutation");
        }
    }

    /// <summary>
    /// A LOG_ONLY plugin would have done <paramref name="action"/>: log and count it, as an enforcing plugin would have
    /// done it once: nothing after a reply or close it would have made, which would have ended the stream.
    /// </summary>
    public void RecordLogOnly(StreamHost host, string action)
    {
        if (host.WouldHaveEnded)
        {
            return;
        }

        host.WouldHaveEnded = action is "local_response" or "close_stream" or "pause_timeout";
        host.Entry.Metrics.LogOnlyAction(action).Inc();
        string? path;
        lock (_state)
        {
            path = RequestHeaders.Get(":path");
        }

        if (action == DeferredBodyDropped)
        {
            // The proxy's doing, not the plugin's: "would have applied" would say its enforcing twin drops bodies.
            LogDeferredBodyDropped(_log, host.Entry.Spec.Key, path ?? "", _options.MaxBufferedBodyBytes, _options.MaxDeferredBodyBytes);
            return;
        }

        LogWouldHave(_log, host.Entry.Spec.Key, action, path ?? "");
    }

    private static HeaderMap? Copy(HeaderMap? map)
    {
        if (map is null)
        {
            return null;
        }

        var copy = new HeaderMap(map.Count + 4);
        foreach (var (k, v) in map.Entries)
        {
            copy.Add(k, v);
        }

        return copy;
    }

    private static bool SameHeaders(HeaderMap? a, HeaderMap? b)
    {
        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!string.Equals(a[i].Key, b[i].Key, StringComparison.Ordinal) || !string.Equals(a[i].Value, b[i].Value, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The request's header map as plugins see it: the pseudo-headers, then the client's fields but Host and this hop's own.
    /// With <paramref name="vetFields"/> (an HTTP/1.x client: Kestrel's parser takes control characters in a value) each
    /// field is vetted in the same pass (<see cref="RequestFields"/>): <paramref name="malformed"/> says why the first one
    /// that cannot be forwarded cannot, and the map is then incomplete and not to be used.
    /// </summary>
    public static HeaderMap BuildRequestHeaders(HttpContext context, bool vetFields, out string? malformed)
    {
        var request = context.Request;
        var map = new HeaderMap(request.Headers.Count + 4);
        map.Add(":method", request.Method);
        map.Add(":path", PathOf(request));
        map.Add(":authority", request.Host.Value ?? "");
        map.Add(":scheme", request.Scheme);
        malformed = null;
        foreach (var (name, values) in request.Headers)
        {
            if (vetFields && RequestFields.Unsendable(name, values, "header") is { } why)
            {
                malformed = why;
                return map;
            }

            if (name.StartsWith(':') || string.Equals(name, "Host", StringComparison.OrdinalIgnoreCase) || IsConnectionSpecific(name, values))
            {
                continue;
            }

            foreach (var value in values)
            {
                map.Add(name, value ?? "");
            }
        }

        return map;
    }

    /// <summary>
    /// The <c>:path</c> plugins see: the target exactly as it goes upstream (the forwarder and YARP write Kestrel's
    /// path, dot segments removed and unreserved escapes decoded, and origin form for an absolute-form request), as
    /// Envoy's filters see the path after its normalization. The raw target differed: a plugin denying <c>/admin</c>
    /// let <c>/public/../admin</c> and <c>/%61dmin</c> through, and the upstream got <c>GET /admin</c>. Built as
    /// <see cref="RequestHeadWriter.WriteHead"/> writes it.
    /// </summary>
    private static string PathOf(HttpRequest request)
    {
        if (RequestHeadWriter.IsAsteriskForm(request))
        {
            return "*";
        }

        var path = request.PathBase.Add(request.Path).ToUriComponent();
        return (path.Length == 0 ? "/" : path) + request.QueryString.ToUriComponent();
    }

    /// <summary>
    /// Fields about this hop's connection, which Envoy removes before any filter runs: plugins never see
    /// them (a plugin copying the request headers into a callout must not copy the body framing), and the
    /// forwarder writes its own. <c>te: trailers</c> is end-to-end for gRPC and stays.
    /// </summary>
    private static bool IsConnectionSpecific(string name, StringValues values) => name.Length switch
    {
        2 => name.Equals("TE", StringComparison.OrdinalIgnoreCase) && !string.Equals(values.ToString().Trim(), "trailers", StringComparison.OrdinalIgnoreCase),
        10 => name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase),
        16 => name.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase),
        17 => name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    /// <summary>
    /// Copies what the plugins changed in the map back to the request: the changed fields only (every field
    /// when a plugin replaced the whole map), then method, path and authority.
    /// </summary>
    /// <returns>
    /// Why the request as the plugins left it cannot be sent (null when it can): a field name that is no token, a value
    /// with CR, LF or NUL, a method that is no token, a path not starting with '/', an authority with a control character
    /// or a space. Both forwarding paths would otherwise differ: the HTTP/1.1 forwarder would write the field as it is
    /// (a name 'x-user: admin' reads upstream as x-user), HttpClient drops it without a word.
    /// </returns>
    private string? ApplyRequestHeaders()
    {
        var request = Context.Request;
        var map = RequestHeaders;
        string? method = null, path = null, authority = null;
        var names = FieldsToWriteBack(map, request.Headers);
        for (var i = 0; i < names.Count; i++)
        {
            var name = names[i];
            switch (name)
            {
                case ":method": method = map.Get(name); break;
                case ":path": path = map.Get(name); break;
                case ":authority": authority = map.Get(name); break;
                case ":scheme": break;
                default:
                    if (UnsendableField(map, name) is { } why)
                    {
                        return why;
                    }

                    CopyField(map, name, request.Headers);
                    break;
            }
        }

        // A pseudo-header the plugins removed (or left out of proxy_set_header_map_pairs) was put back without a word; Envoy's
        // codec refuses a request without it. :authority only when the client sent one (an HTTP/1.0 request may not).
        foreach (var required in (ReadOnlySpan<string>)[":method", ":path", ":authority"])
        {
            if (map.Get(required) is null && (map.Replaced || names.Contains(required)) && (required != ":authority" || request.Host.HasValue))
            {
                return $"the plugins removed {required}, which a request must have";
            }
        }

        if (method is not null && (method.Length == 0 || !Http1ResponseHead.IsToken(method)))
        {
            return $"the plugins set :method to '{Escape(method)}', which is no method token";
        }

        if (path is not null && (!path.StartsWith('/') || HasSpaceOrControl(path)))
        {
            return $"the plugins set :path to '{Escape(path)}'; a path starts with '/' and has no space or control character";
        }

        if (authority is not null && HasSpaceOrControl(authority))
        {
            return $"the plugins set :authority to '{Escape(authority)}', which has a space or control character";
        }

        if (method is not null && HttpMethods.IsHead(method) != HttpMethods.IsHead(request.Method))
        {
            // Kestrel frames the response for the client's own method: a HEAD's answer has no body and a GET's one has.
            return $"the plugins changed :method from {request.Method} to {method}; a response to HEAD has no body and one to {(HttpMethods.IsHead(method) ? request.Method : method)} has, so it cannot answer the client's {request.Method}; leave a HEAD a HEAD and any other method off HEAD";
        }

        if (method is not null && !string.Equals(method, request.Method, StringComparison.Ordinal))
        {
            request.Method = method;
        }

        if (path is not null)
        {
            // Routing reads the parsed path; the upstream gets the plugins' own (PluginTarget).
            PluginTarget = RequestTarget.FromPlugin(path);
            var q = path.IndexOf('?', StringComparison.Ordinal);
            request.PathBase = PathString.Empty;
            request.Path = PathString.FromUriComponent(q < 0 ? path : path[..q]);
            request.QueryString = q < 0 ? QueryString.Empty : new QueryString(path[q..]);
        }

        if (authority is not null)
        {
            request.Host = new HostString(authority);
        }

        return null;
    }

    /// <summary>
    /// Why the plugins' field <paramref name="name"/> cannot be sent (<paramref name="side"/>: request or response): a name
    /// that is no token, a value with CR, LF or NUL; in a response also any other control character but HTAB, which
    /// Kestrel refuses to write (RFC 9110 §5.5; the forwarder writes a request's as it is, as Envoy does).
    /// </summary>
    private static string? UnsendableField(HeaderMap map, string name, string side = "request")
    {
        if (name.Length == 0 || !Http1ResponseHead.IsToken(name))
        {
            return $"the plugins set a {side} field named '{Escape(name)}', which is no field name (RFC 9110 token); fix the plugin that adds it";
        }

        var entries = map.Entries;
        for (var i = 0; i < entries.Count; i++)
        {
            var (key, value) = entries[i];
            if (string.Equals(key, name, StringComparison.Ordinal) &&
                (side == "request" ? value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0 : HasControl(value)))
            {
                return $"the plugins set {side} field {name} to '{Escape(value)}', which has a {(side == "request" ? "CR, LF or NUL" : "control character")}; fix the plugin that sets it";
            }
        }

        return null;
    }

    private static bool HasControl(string value)
    {
        foreach (var c in value)
        {
            if (c is < ' ' and not '\t' or '\x7f')
            {
                return true;
            }
        }

        return false;
    }

    private static bool HasSpaceOrControl(string text) => text.AsSpan().ContainsAnyInRange('\0', ' ') || text.Contains('\x7f', StringComparison.Ordinal);

    private static string Escape(string text) => Http1ResponseHead.Escape(text);

    /// <summary>
    /// Copies what the plugins changed in the response map back to the response (every field when a plugin replaced the
    /// map); a status without content they set takes the length off the head (Kestrel refuses one on a 204).
    /// </summary>
    /// <returns>The reply instead, and why, when the response as the plugins left it cannot be sent (<see cref="UnsendableResponse"/>).</returns>
    private (LocalResponse Reply, string Reason)? ApplyResponseHeaders()
    {
        if (ResponseHeaders is not { } map)
        {
            return null;
        }

        var response = Context.Response;
        var names = FieldsToWriteBack(map, response.Headers);
        if (UnsendableResponse(map, names) is { } refused)
        {
            return refused;
        }

        var status = response.StatusCode;
        for (var i = 0; i < names.Count; i++)
        {
            var name = names[i];
            if (name == ":status")
            {
                SetStatus(response, map.Get(name));
            }
            else if (!name.StartsWith(':') && !IsHopByHop(name, status))
            {
                CopyField(map, name, response.Headers);
            }
        }

        if (response.StatusCode != status && ForbidsContent(response.StatusCode))
        {
            response.Headers.ContentLength = null;
            response.Headers.TransferEncoding = default;
        }

        return null;
    }

    /// <summary>
    /// Why a response head as the plugins left it cannot be sent, and the reply it gets instead: a <c>:status</c> removed
    /// or no number gets Envoy's 502 (its filter manager's checkRequiredResponseHeaders, which reads an unparsable status
    /// as a missing one); a field name that is no token or a value with a control character (which Kestrel refuses to
    /// write, or a client would read as another field) the 500 the request side gives (invalid_request_from_plugins), and
    /// so does a <c>:status</c> they set outside 200-599.
    /// </summary>
    private static (LocalResponse Reply, string Reason)? UnsendableResponse(HeaderMap map, IReadOnlyList<string> names)
    {
        var status = map.Get(":status");
        if (!uint.TryParse(status, NumberStyles.None, CultureInfo.InvariantCulture, out var code))
        {
            return (LocalReply.MissingResponseStatus(), status is null
                ? "the plugins removed :status; set it in on_response_headers instead"
                : $"the plugins set :status to '{Escape(status)}', which is no status code; set a number such as 200");
        }

        for (var i = 0; i < names.Count; i++)
        {
            var name = names[i];
            if (name == ":status" && code is < 200 or > 599)
            {
                // Set by a plugin (an upstream's own status passes as it came): Kestrel would send a 1xx as an interim
                // response and then no final one, or write a number no client reads as a status.
                return (LocalReply.InvalidResponseFromPlugins(), $"the plugins set :status to {code}, which is no final status; set one from 200 to 599");
            }

            if (!name.StartsWith(':') && UnsendableField(map, name, "response") is { } why)
            {
                return (LocalReply.InvalidResponseFromPlugins(), why);
            }
        }

        return null;
    }

    /// <summary>
    /// Response fields about this hop's connection, which the proxy writes itself: a plugin's are dropped, as Envoy's
    /// mutateResponseHeaders drops them after the filters. A plugin's <c>transfer-encoding: chunked</c> had told the client
    /// to read chunks that Kestrel then did not write (the body read as chunk framing); <c>connection</c> and <c>upgrade</c>
    /// stay on a 101, whose upgrade they are.
    /// </summary>
    private static bool IsHopByHop(string name, int status) => name.Length switch
    {
        7 => status != 101 && name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase),
        10 => name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase) || (status != 101 && name.Equals("Connection", StringComparison.OrdinalIgnoreCase)),
        16 => name.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase),
        17 => name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    /// <summary>Statuses whose responses have no content (RFC 9110 §15.3.5, §15.3.6, §15.4.5); Kestrel refuses to write one.</summary>
    private static bool ForbidsContent(int status) => status is 204 or 205 or 304;

    /// <summary>
    /// The names whose values go back to Kestrel: those the plugins changed, or, when a plugin replaced the
    /// whole map, every name in it (<paramref name="headers"/> is cleared first).
    /// </summary>
    private static IReadOnlyList<string> FieldsToWriteBack(HeaderMap map, IHeaderDictionary headers)
    {
        if (!map.Replaced)
        {
            return map.ChangedNames;
        }

        headers.Clear();
        return Names(map);
    }

    /// <summary>Each name in <paramref name="map"/> once, in order of first appearance.</summary>
    private static List<string> Names(HeaderMap map) => [.. map.Entries.Select(e => e.Key).Distinct(StringComparer.Ordinal)];

    private static void SetStatus(HttpResponse response, string? value)
    {
        // A final status only: a plugin's :status of 1xx would make Kestrel send an interim response and no final one
        // (UnsendableResponse refuses one the plugins set).
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var status) && status is >= 200 and <= 599)
        {
            response.StatusCode = status;
        }
    }

    /// <summary>Makes <paramref name="headers"/>' values of <paramref name="name"/> those of the map, in order (removed when the map has none).</summary>
    private static void CopyField(HeaderMap map, string name, IHeaderDictionary headers)
    {
        string? first = null;
        List<string>? more = null;
        var entries = map.Entries;
        for (var i = 0; i < entries.Count; i++)
        {
            var (key, value) = entries[i];
            if (string.Equals(key, name, StringComparison.Ordinal))
            {
                if (first is null)
                {
                    first = value;
                }
                else
                {
                    (more ??= [first]).Add(value);
                }
            }
        }

        if (first is null)
        {
            headers.Remove(name);
        }
        else
        {
            headers[name] = more is null ? new StringValues(first) : new StringValues([.. more]);
        }
    }

    internal enum Phase
    {
        RequestHeaders,
        RequestBody,
        RequestTrailers,
        ResponseHeaders,
        ResponseBody,
        ResponseTrailers,
    }

    private enum BodyStep
    {
        Continue,
        Held,
        Paused,
        Stopped,
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "wasm_fail_stream: plugin {Plugin} failed on {Method} {Path}; {Outcome} ({Strategy}): {Failure}")]
    private static partial void LogFailStream(ILogger logger, string plugin, string method, string path, string outcome, string strategy, string failure);

    [LoggerMessage(Level = LogLevel.Warning, Message = "wasm_pause_timeout: plugin {Plugin} paused {Method} {Path} and did not resume, answer or close it within {Seconds} s; answered 503")]
    private static partial void LogPauseTimeout(ILogger logger, string plugin, string method, string path, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "plugin {Plugin} failed on {Method} {Path} after it asked for {Decision}, which is applied (FAIL_OPEN skips a failed plugin, not what it decided): {Failure}")]
    private static partial void LogDecidedBeforeFailing(ILogger logger, string plugin, string method, string path, string decision, string failure);

    [LoggerMessage(Level = LogLevel.Warning, Message = "plugin {Plugin} failed on {Method} {Path}, skipped for the rest of it ({Why}): {Failure}")]
    private static partial void LogFailOpen(ILogger logger, string plugin, string method, string path, string why, string failure);

    [LoggerMessage(Level = LogLevel.Warning, Message = "plugin {Plugin} failed on {Method} {Path}, retrying once on a fresh stream context on a healthy VM (FAIL_RELOAD): {Failure}")]
    private static partial void LogRetry(ILogger logger, string plugin, string method, string path, string failure);

    [LoggerMessage(Level = LogLevel.Warning, Message = "invalid_request_from_plugins: {Path} answered 500, nothing sent upstream: {Reason}")]
    private static partial void LogUnsendable(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Details}: {Method} {Path} answered {Status} in place of the upstream's response: {Reason}")]
    private static partial void LogInvalidResponse(ILogger logger, string details, string method, string path, int status, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Details}: {Method} {Path}: the plugins' local reply as they left it cannot be sent, answered {Status} without them: {Reason}")]
    private static partial void LogInvalidReply(ILogger logger, string details, string method, string path, int status, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "invalid_response_from_plugins: {Method} {Path}: the plugins {Change} the streamed response body {Where} its content-length {Length} ({Bytes} bytes had gone out); {Outcome}. Remove content-length in on_response_headers, or hold the body to its end (the proxy then sets the length)")]
    private static partial void LogMisframed(ILogger logger, string method, string path, string change, long length, string where, long bytes, string outcome);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} {Path}: the plugins set :status {Status} on the upstream's {Upstream} with a body; a {Status} has none, so the body was not relayed")]
    private static partial void LogBodyDropped(ILogger logger, string method, string path, int status, int upstream);

    /// <summary>
    /// True when a plugin reset the stream: it closed it (proxy_close_stream), or its local reply came once the response
    /// had started or the stream was upgraded, where a reply can only be a reset (Envoy's downstream_rq_tx_reset).
    /// </summary>
    public bool ResetByPlugin => Closed || _replyReset;

    /// <summary>
    /// A plugin's reply that can only reset the stream (the response started, or the plugins let an upgrade's 101 through):
    /// logged once, and counted as the plugin's reset (<see cref="ResetByPlugin"/>), as a close is. It was a bare reset.
    /// </summary>
    private void NoteReplyReset()
    {
        if (Closed || !_replyByPlugin || Reply is not { } reply || Interlocked.Exchange(ref _resetLogged, 1) != 0)
        {
            return;
        }

        _replyReset = true;
        LogReplyReset(_log, reply.Details, Context.Request.Method, Context.Request.Path.Value ?? "", reply.StatusCode,
            _upgraded ? "the stream was upgraded" : "the response had started");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Details}: {Method} {Path}: a plugin's local reply ({Status}) came after {Where}, so the stream was reset")]
    private static partial void LogReplyReset(ILogger logger, string details, string method, string path, int status, string where);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Details}: {Method} {Path}: the plugins held more than --max-body-bytes ({Limit}) {Where}; the stream was reset")]
    private static partial void LogTooLargeReset(ILogger logger, string details, string method, string path, long limit, string where);

    [LoggerMessage(Level = LogLevel.Information, Message =
        "LOG_ONLY plugin {Plugin}: a body kept for it while it decides was dropped on {Path}, past --max-body-bytes ({PerBody}) " +
        "or the proxy's --max-deferred-body-bytes ({Total}); it gets no callback for that body (counted as deferred_body_dropped)")]
    private static partial void LogDeferredBodyDropped(ILogger logger, string plugin, string path, long perBody, long total);

    [LoggerMessage(Level = LogLevel.Information, Message = "LOG_ONLY plugin {Plugin} would have applied {Action} on {Path}")]
    private static partial void LogWouldHave(ILogger logger, string plugin, string action, string path);

    /// <summary>The request headers and properties as they were before a FAIL_RELOAD plugin's <c>on_request_headers</c>.</summary>
    private sealed class RequestSnapshot
    {
        private readonly KeyValuePair<string, string>[] _headers;
        private readonly int _version;
        private readonly KeyValuePair<string, byte[]>[]? _filterState;

        private RequestSnapshot(KeyValuePair<string, string>[] headers, int version, KeyValuePair<string, byte[]>[]? filterState)
        {
            _headers = headers;
            _version = version;
            _filterState = filterState;
        }

        public static RequestSnapshot Take(Exchange exchange)
        {
            lock (exchange._state)
            {
                var map = exchange.RequestHeaders;
                var headers = new KeyValuePair<string, string>[map.Count];
                for (var i = 0; i < headers.Length; i++)
                {
                    headers[i] = map[i];
                }

                return new RequestSnapshot(headers, map.Version, exchange._filterState?.ToArray());
            }
        }

        public void Restore(Exchange exchange)
        {
            lock (exchange._state)
            {
                var map = exchange.RequestHeaders;
                if (map.Version != _version)
                {
                    // Only when the failed attempt edited them: put back, they are all written to the request again, :path
                    // too (a server-wide OPTIONS * untouched by the plugin would be refused then: a plugin's :path starts with '/').
                    map.Clear();
                    foreach (var (name, value) in _headers)
                    {
                        map.Add(name, value);
                    }
                }

                if (exchange._filterState is { } state)
                {
                    state.Clear();
                    foreach (var (key, value) in _filterState ?? [])
                    {
                        state[key] = value;
                    }
                }
            }
        }
    }
}
