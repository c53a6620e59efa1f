using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;
using WasmOperator.Proxy.Chain;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Metrics;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// Sends plugin callouts (HTTP and unary gRPC) to the named clusters of the configuration through
/// one pooled <see cref="HttpClient"/>, each with the timeout the plugin asked for.
/// </summary>
internal sealed partial class CalloutClient : IDisposable
{
    private readonly HttpClient _client;
    private readonly ProxyOptions _options;
    private readonly ConcurrentDictionary<string, StrongBox<int>> _inFlight = new(StringComparer.Ordinal);
    private readonly ProxyMetrics? _metrics;
    private readonly ILogger? _log;
    private readonly LogThrottle _overflowWarnings = new(TimeSpan.FromSeconds(1));

    public CalloutClient(ProxyOptions options)
        : this(options, NewHandler(options.ConnectTimeout))
    {
    }

    /// <summary>The proxy's: refusals at a cluster's limit are counted and said (at most one warning a second).</summary>
    public CalloutClient(ProxyOptions options, ProxyMetrics metrics, ILogger<CalloutClient> log)
        : this(options)
    {
        _metrics = metrics;
        _log = log;
        metrics.ObserveCallouts(() => _inFlight.Select(static c => KeyValuePair.Create(c.Key, Math.Max(0, Volatile.Read(ref c.Value.Value)))));
    }

    /// <summary>For tests: callouts through <paramref name="handler"/>.</summary>
    internal CalloutClient(ProxyOptions options, HttpMessageHandler handler)
    {
        _options = options;
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    private static SocketsHttpHandler NewHandler(TimeSpan connectTimeout) => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        // Envoy's circuit-breaker default; callouts beyond what a cluster may have in flight fail at once (TryEnter).
        MaxConnectionsPerServer = 1024,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        // --connect-timeout, as a routed request's: Istio gives a callout's cluster the mesh's connectTimeout too.
        ConnectTimeout = connectTimeout,
        // gRPC callouts to a cluster share HTTP/2 connections; once one is at the server's concurrent-stream
        // limit (Kestrel: 100) another is opened instead of queueing the call (Envoy's HTTP/2 pool does the same).
        EnableMultipleHttp2Connections = true,
        // Header values are bytes, one char per byte (HeaderMap's remarks): a plugin's callout headers go out as it wrote them.
        RequestHeaderEncodingSelector = static (_, _) => System.Text.Encoding.Latin1,
        ResponseHeaderEncodingSelector = static (_, _) => System.Text.Encoding.Latin1,
    };

    /// <summary>
    /// An HTTP callout (<c>proxy_http_call</c>), failing the way Envoy's async client does:
    /// <list type="bullet">
    /// <item>an unknown cluster, or one with <see cref="ProxyOptions.MaxCalloutsPerCluster"/> callouts in flight, throws
    /// <see cref="CalloutRefusedException"/> synchronously: the hostcall answers BAD_ARGUMENT (unknown, Envoy
    /// <c>Context::httpCall</c>) or INTERNAL_FAILURE (overflow: the circuit breaker fails the send at once, so
    /// <c>AsyncClient::send</c> returns null) and no response is delivered;</item>
    /// <item>a failure before the response headers (connection refused, reset, timeout) is the router's
    /// local reply, delivered as a real response (<c>AsyncStreamImpl::sendLocalReply</c> encodes it and
    /// <c>AsyncRequestImpl::onComplete</c> calls <c>onSuccess</c>): 503 with
    /// "upstream connect error or disconnect/reset before headers. reset reason: …" (<c>Router::Filter::onUpstreamReset</c>),
    /// 504 "upstream request timeout" (<c>onResponseTimeout</c>), <c>content-type: text/plain</c>;</item>
    /// <item>a failure after the headers arrived (the body or trailers cut off, or the timeout firing then) faults
    /// the task: a failed call with no headers (Envoy resets the stream, <c>onFailure(Reset)</c>); so does a body over
    /// <see cref="ProxyOptions.MaxCalloutResponseBytes"/> (<see cref="CalloutResponseTooLargeException"/>);</item>
    /// <item>a <c>:path</c> that does not start with '/' (it is appended to the cluster's address; Envoy sends it as
    /// given), or cannot go into a request line (a space, a control, a byte outside ASCII, a fragment) throws
    /// <see cref="CalloutRefusedException"/> synchronously: BAD_ARGUMENT, nothing sent, no response.</item>
    /// </list>
    /// A timeout of 0 means none, as in Envoy; connecting is bounded by <see cref="ProxyOptions.ConnectTimeout"/>
    /// (<c>--connect-timeout</c>), as a routed request's connect is.
    /// </summary>
    public Task<HttpCalloutResponse> SendHttpAsync(HttpCalloutRequest request, CancellationToken cancellationToken)
    {
        // The forwarded request's rule (Forwarding.RequestTarget): written raw, "/x HTTP/1.0" forged the request line,
        // and a byte above 0x7F went out as NUL.
        var path = request.Headers.Get(":path") ?? "/";
        if (path is not ['/', ..])
        {
            throw new CalloutRefusedException(CalloutRefusal.InvalidRequest,
                $":path: request target '{Forwarding.Http1ResponseHead.Printable(path)}' does not start with '/': it goes after the cluster's address, give an absolute path (like /check)");
        }

        if (Forwarding.RequestTarget.Unsendable(path) is { } unsendable)
        {
            throw new CalloutRefusedException(CalloutRefusal.InvalidRequest, ":path: " + unsendable);
        }

        var cluster = Enter(request.Upstream);
        return SendCountedAsync(cluster, request, cancellationToken);
    }

    /// <summary>
    /// Resolves a callout's cluster and counts the callout against it, or refuses it (<see cref="CalloutRefusedException"/>):
    /// unknown, or at <see cref="ProxyOptions.MaxCalloutsPerCluster"/>. A refusal happens before anything is sent.
    /// </summary>
    private Uri Enter(string upstream)
    {
        var cluster = Resolve(upstream);
        Count(upstream, null);
        return cluster;
    }

    private Uri Resolve(string upstream) =>
        TryResolve(upstream, out var cluster, out var unknown) ? cluster : throw new CalloutRefusedException(CalloutRefusal.UnknownCluster, unknown);

    /// <summary>Counts a callout against its cluster, or refuses it at the limit (disposing the request built for it).</summary>
    private void Count(string upstream, IDisposable? built)
    {
        if (!TryEnter(upstream))
        {
            built?.Dispose();
            Overflowed(upstream);
            throw new CalloutRefusedException(CalloutRefusal.Overflow, Overflow(upstream));
        }
    }

    /// <summary>
    /// A refusal at the cluster's limit, counted and said: the plugin only sees a failed call, which an authorizer
    /// usually turns into a deny (a LOG_ONLY dry run then counts would-be denials with no other trace of why).
    /// </summary>
    private void Overflowed(string cluster)
    {
        _metrics?.CalloutOverflows.WithLabels(cluster).Inc();
        if (_log is not null && _overflowWarnings.TryEnter(out var suppressed))
        {
            LogOverflow(_log, cluster, _options.MaxCalloutsPerCluster, suppressed);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message =
        "plugin callouts to cluster {Cluster} refused: {Limit} already in flight (--max-callouts-per-cluster); each plugin gets a failed call, " +
        "which an authorizer usually answers as a deny ({Suppressed} more refusal(s) in the last second, not logged); raise the limit or make the cluster answer faster")]
    private static partial void LogOverflow(ILogger logger, string cluster, int limit, long suppressed);

    private async Task<HttpCalloutResponse> SendCountedAsync(Uri cluster, HttpCalloutRequest request, CancellationToken cancellationToken)
    {
        try
        {
            return await SendHttpAsync(cluster, request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Leave(request.Upstream);
        }
    }

    /// <summary>
    /// Counts a callout against its cluster's <see cref="ProxyOptions.MaxCalloutsPerCluster"/>; false when the cluster is
    /// full (Envoy's circuit breaker overflows: the call fails at once instead of queueing without bound). A plugin
    /// making thousands of calls to a cluster that never answers took every file descriptor of the proxy.
    /// </summary>
    internal bool TryEnter(string cluster)
    {
        var count = _inFlight.GetOrAdd(cluster, static _ => new StrongBox<int>());
        if (Interlocked.Increment(ref count.Value) <= _options.MaxCalloutsPerCluster)
        {
            return true;
        }

        Interlocked.Decrement(ref count.Value);
        return false;
    }

    internal void Leave(string cluster)
    {
        if (_inFlight.TryGetValue(cluster, out var count))
        {
            Interlocked.Decrement(ref count.Value);
        }
    }

    private async Task<HttpCalloutResponse> SendHttpAsync(Uri cluster, HttpCalloutRequest request, CancellationToken cancellationToken)
    {
        var method = request.Headers.Get(":method") ?? "GET";
        using var message = HttpRequest(cluster, request, method);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (request.Timeout > TimeSpan.Zero)
        {
            timeout.CancelAfter(request.Timeout);
        }

        var head = string.Equals(method, "HEAD", StringComparison.OrdinalIgnoreCase);
        HttpResponseMessage response;
        try
        {
            response = await _client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return RouterReply(HttpStatusCode.GatewayTimeout, "upstream request timeout", head);
        }
        catch (OperationCanceledException)
        {
            // The handler's ConnectTimeout, not the callout's: Envoy's reset reason "connection timeout".
            return RouterReply(HttpStatusCode.ServiceUnavailable, LocalReply.ResetBeforeHeadersText("connection timeout", null), head);
        }
        catch (HttpRequestException ex) when (NotSent(ex))
        {
            throw new CalloutNotSentException(request.Upstream, Innermost(ex).Message, ex);
        }
        catch (HttpRequestException ex)
        {
            var (status, body) = BeforeHeaders(ex);
            return RouterReply(status, body, head);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            // Not always wrapped: a connection the cluster resets as soon as it accepts it can fail HttpClient's own
            // RemoteEndPoint lookup with a bare ENOTCONN. A connection failure all the same.
            return RouterReply(HttpStatusCode.ServiceUnavailable, LocalReply.ResetBeforeHeadersText("remote connection failure", TransportFailure(ex)), head);
        }

        using (response)
        {
            if (ConflictingContentLength(response))
            {
                // Envoy's HTTP/1 codec refuses such a head as a protocol error (RFC 9112 §6.3: the framing is unknown), and so
                // does the proxy's own forwarder; HttpClient reads the first value and would hand the plugin a cut body.
                return RouterReply(HttpStatusCode.BadGateway, LocalReply.ResetBeforeHeadersText("protocol error", null), head);
            }

            var headers = new HeaderMap();
            headers.Add(":status", ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
            Copy(response.Headers, headers);
            Copy(response.Content.Headers, headers);
            var body = await ReadBodyAsync(response.Content, request.Upstream, declaredCounts: !head && HasBody(response.StatusCode), timeout.Token)
                .ConfigureAwait(false);
            var trailers = new HeaderMap();
            Copy(response.TrailingHeaders, trailers);
            return new HttpCalloutResponse(headers, body, trailers);
        }
    }

    /// <summary>Whether the response carried Content-Length more than once with different values (or one list of different values).</summary>
    private static bool ConflictingContentLength(HttpResponseMessage response)
    {
        if (!response.Content.Headers.NonValidated.TryGetValues("Content-Length", out var values))
        {
            return false;
        }

        string? first = null;
        foreach (var value in values)
        {
            foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                first ??= part;
                if (!string.Equals(first, part, StringComparison.Ordinal))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool HasBody(HttpStatusCode status) => status is not (HttpStatusCode.NoContent or HttpStatusCode.NotModified);

    /// <summary>
    /// A callout's response body, never more than <see cref="ProxyOptions.MaxCalloutResponseBytes"/> of it in memory:
    /// a Content-Length above the limit (when <paramref name="declaredCounts"/>: not for HEAD, 204, 304) fails at once,
    /// an undeclared body as soon as one byte more arrives (<see cref="CalloutResponseTooLargeException"/>). The buffer
    /// grows with what arrives, up to the Content-Length: a cluster declaring 32 MiB and sending nothing holds 16 KiB.
    /// </summary>
    /// <param name="inspect">Sees the body read so far after each read; may throw to end the read (a gRPC message prefix over the limit).</param>
    private async Task<byte[]> ReadBodyAsync(HttpContent content, string cluster, bool declaredCounts, CancellationToken cancellationToken,
        InspectBody? inspect = null)
    {
        var limit = _options.MaxCalloutResponseBytes;
        var declared = content.Headers.ContentLength;
        if (declaredCounts && declared > limit)
        {
            throw new CalloutResponseTooLargeException(cluster, limit);
        }

        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var ceiling = declared is { } size && size <= limit ? (int)size : limit;
            var buffer = new byte[Math.Min(16 * 1024, ceiling)];
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    // Full: one byte more says whether the body goes on, and then whether it may.
                    var probe = new byte[1];
                    if (await stream.ReadAsync(probe, cancellationToken).ConfigureAwait(false) == 0)
                    {
                        return buffer;
                    }

                    if (length >= limit)
                    {
                        throw new CalloutResponseTooLargeException(cluster, limit);
                    }

                    Array.Resize(ref buffer, (int)Math.Min(Math.Max(2L * length, 1024), length < ceiling ? ceiling : limit));
                    buffer[length++] = probe[0];
                    continue;
                }

                var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return length == buffer.Length ? buffer : buffer.AsSpan(0, length).ToArray();
                }

                length += read;
                inspect?.Invoke(buffer.AsSpan(0, length));
            }
        }
    }

    private delegate void InspectBody(ReadOnlySpan<byte> received);

    /// <summary>
    /// The callout's request as HttpClient sends it: the plugin's headers without its pseudo-headers and without the
    /// fields of <see cref="IsConnectionField"/>, the body with a Content-Length of its own length, <c>Host</c> the
    /// <c>:authority</c>. Throws <see cref="CalloutNotSentException"/> for what cannot be sent as asked.
    /// </summary>
    /// <remarks>
    /// Envoy's <c>Context::httpCall</c> copies every header pair and sets content-length only for a non-empty body
    /// (<c>setContentLength(request_body.size())</c>), so a plugin's content-length stays on an empty body. The auth
    /// example forwards the client's request headers with an empty body: a POST's <c>content-length: 3</c> went out
    /// here with no body, and HttpClient failed it before sending a byte ("Content-Length promised 3"), so every
    /// request with a body was denied; Envoy sends it and the cluster waits for bytes that never come until the
    /// callout's timeout. Neither helps a plugin, so the length is always the body's.
    /// </remarks>
    private static HttpRequestMessage HttpRequest(Uri cluster, HttpCalloutRequest request, string method)
    {
        // request.Trailers are not sent. Callouts go over HTTP/1.1, where Envoy sends none either: its HTTP/1 encoder
        // drops trailers unless the cluster sets enable_trailers, and httpCall gives a body a content-length, so
        // there is no chunked framing to carry them (http1 StreamEncoderImpl::encodeTrailersBase). HttpClient
        // cannot send request trailers at all.
        var path = request.Headers.Get(":path") ?? "/";
        HttpRequestMessage message;
        try
        {
            message = new HttpRequestMessage(new HttpMethod(method), Target(cluster, path));
        }
        catch (FormatException ex)
        {
            // UriFormatException is one too: the :path does not make a URL after the cluster's address.
            throw new CalloutNotSentException(request.Upstream,
                ex is UriFormatException ? $":path '{path}' does not make a URL after {cluster}: {ex.Message}" : $":method '{method}' is not an HTTP method token", ex);
        }

        if (request.Body.Length > 0)
        {
            message.Content = new ByteArrayContent(request.Body);
        }

        foreach (var (name, value) in request.Headers.Entries)
        {
            if (name.StartsWith(':') || IsConnectionField(name))
            {
                continue;
            }

            if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            {
                // HttpClient writes a CR or LF as it is: the rest of the value would be another header line.
                message.Dispose();
                throw new CalloutNotSentException(request.Upstream, $"header '{name}' has a CR, LF or NUL in its value");
            }

            if (!message.Headers.TryAddWithoutValidation(name, value))
            {
                message.Content ??= new ByteArrayContent([]);
                message.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        if (request.Headers.Get(":authority") is { } authority)
        {
            try
            {
                message.Headers.Host = authority;
            }
            catch (FormatException ex)
            {
                message.Dispose();
                throw new CalloutNotSentException(request.Upstream, $":authority '{authority}' is not a host name", ex);
            }
        }

        return message;
    }

    /// <summary>
    /// Fields of a plugin's callout headers that describe the plugin's own connection or framing, not the callout: the
    /// auth example forwards the client's. The callout is one request with its whole body on a pooled connection, so
    /// HttpClient frames it itself (a content-length is replaced by the body's length; a transfer-encoding it refuses
    /// without a body), and it neither upgrades, nor waits for a 100 (expect), nor lets a plugin close the pool's connection.
    /// </summary>
    internal static bool IsConnectionField(string name) =>
        name.Equals("content-length", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("transfer-encoding", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("connection", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("keep-alive", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("proxy-connection", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("upgrade", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("expect", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// HttpClient refused to send the request as built (no HTTP error kind, and no socket or I/O failure under it):
    /// the proxy's failure, which no upstream and no retry changes.
    /// </summary>
    private static bool NotSent(HttpRequestException ex)
    {
        if (ex.HttpRequestError != HttpRequestError.Unknown)
        {
            return false;
        }

        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is IOException or System.Net.Sockets.SocketException)
            {
                return false;
            }
        }

        return true;
    }

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is { } inner)
        {
            ex = inner;
        }

        return ex;
    }

    /// <summary>
    /// Envoy's router local reply for a request that failed before any response headers
    /// (<c>Router::Filter::onUpstreamReset</c>; reset reasons from <c>Http::Utility::resetReasonToString</c>;
    /// transport failure reason from <c>ConnectionImpl</c>: "delayed connect error: " + strerror).
    /// A protocol error is 502, anything else 503.
    /// </summary>
    private static (HttpStatusCode Status, string Body) BeforeHeaders(HttpRequestException ex) => ex.HttpRequestError switch
    {
        HttpRequestError.NameResolutionError => (HttpStatusCode.ServiceUnavailable, "no healthy upstream"),
        HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError =>
            (HttpStatusCode.ServiceUnavailable, LocalReply.ResetBeforeHeadersText("remote connection failure", TransportFailure(ex))),
        HttpRequestError.ResponseEnded => (HttpStatusCode.ServiceUnavailable, LocalReply.ResetBeforeHeadersText("connection termination", null)),
        HttpRequestError.HttpProtocolError or HttpRequestError.InvalidResponse or HttpRequestError.ConfigurationLimitExceeded =>
            (HttpStatusCode.BadGateway, LocalReply.ResetBeforeHeadersText("protocol error", null)),
        _ => (HttpStatusCode.ServiceUnavailable, LocalReply.ResetBeforeHeadersText("remote connection failure", TransportFailure(ex))),
    };

    private static string? TransportFailure(Exception ex) =>
        Forwarding.ExceptionChain.Find<System.Net.Sockets.SocketException>(ex) is { } socket ? "delayed connect error: " + socket.Message : null;

    /// <summary>A local reply as Envoy encodes it (<c>Http::Utility::sendLocalReply</c>): :status, content-length, content-type text/plain; no body for HEAD.</summary>
    private static HttpCalloutResponse RouterReply(HttpStatusCode status, string text, bool head)
    {
        var body = System.Text.Encoding.UTF8.GetBytes(text);
        var headers = new HeaderMap();
        headers.Add(":status", ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture));
        headers.Add("content-length", body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        headers.Add("content-type", "text/plain");
        return new HttpCalloutResponse(headers, head ? [] : body, new HeaderMap(0));
    }

    /// <summary>
    /// A unary gRPC call: the plugin's serialized message in one 5-byte-prefixed frame, the first
    /// response message out; status and message from the trailers (or a trailers-only reply). An unknown or
    /// overflowing cluster is refused synchronously (<see cref="CalloutRefusedException"/>), as for HTTP; an
    /// unreachable upstream is status 14 (UNAVAILABLE), a stream reset after the response began 13 (INTERNAL), the
    /// timeout 4 (DEADLINE_EXCEEDED), as Envoy's async client reports them. A timeout of 0 means none, as in Envoy (the router's timeout 0 is no timeout). A response
    /// over <see cref="ProxyOptions.MaxCalloutResponseBytes"/> is 8 (RESOURCE_EXHAUSTED, as gRPC reports a message over
    /// its receive limit), reported to <paramref name="tooLarge"/> too.
    /// </summary>
    public Task<GrpcCalloutResponse> SendGrpcAsync(GrpcCalloutRequest request, CancellationToken cancellationToken,
        Action<CalloutResponseTooLargeException>? tooLarge = null)
    {
        // Built before the call is counted: a request that cannot be built is refused, and never holds a place.
        var message = GrpcRequest(Resolve(request.Upstream), request.Upstream, request.Authority, request.Service, request.Method, request.InitialMetadata);
        Count(request.Upstream, message);
        return SendGrpcCountedAsync(message, request, tooLarge, cancellationToken);
    }

    private async Task<GrpcCalloutResponse> SendGrpcCountedAsync(HttpRequestMessage message, GrpcCalloutRequest request,
        Action<CalloutResponseTooLargeException>? tooLarge, CancellationToken cancellationToken)
    {
        try
        {
            using (message)
            {
                return await SendGrpcAsync(message, request, tooLarge, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Leave(request.Upstream);
        }
    }

    private async Task<GrpcCalloutResponse> SendGrpcAsync(HttpRequestMessage message, GrpcCalloutRequest request,
        Action<CalloutResponseTooLargeException>? tooLarge, CancellationToken cancellationToken)
    {
        if (request.Timeout > TimeSpan.Zero)
        {
            // Envoy's Grpc::Common::prepareHeaders tells the server the deadline too.
            message.Headers.TryAddWithoutValidation("grpc-timeout", GrpcTimeout(request.Timeout));
        }

        message.Content = new ByteArrayContent(GrpcFraming.Frame(request.Message));
        message.Content.Headers.ContentType = GrpcContentType;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (request.Timeout > TimeSpan.Zero)
        {
            timeout.CancelAfter(request.Timeout);
        }

        var answered = false;
        try
        {
            using var response = await _client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            answered = true;
            var limit = _options.MaxCalloutResponseBytes;
            var body = await ReadBodyAsync(response.Content, request.Upstream, declaredCounts: true, timeout.Token, received =>
            {
                // The message's prefix tells its size before its bytes arrive: one over the limit fails now, not at the deadline.
                if (received.Length >= GrpcFraming.PrefixSize && System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(received[1..]) > (uint)limit)
                {
                    throw new CalloutResponseTooLargeException(request.Upstream, limit);
                }
            }).ConfigureAwait(false);
            var initial = ToMap(response.Headers, response.Content.Headers);
            var trailing = new HeaderMap();
            Copy(response.TrailingHeaders, trailing);
            var (status, statusMessage) = GrpcStatus.From(response, initial, trailing);
            byte[]? payload = null;
            if (GrpcFraming.TryRead(body, out var first, out _))
            {
                payload = first;
            }

            return new GrpcCalloutResponse(status, statusMessage, payload, initial, trailing);
        }
        catch (CalloutResponseTooLargeException ex)
        {
            tooLarge?.Invoke(ex);
            return Failed(GrpcStatus.ResourceExhausted, $"gRPC call {request.Service}/{request.Method}: {ex.Message}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && timeout.IsCancellationRequested)
        {
            return Failed(GrpcStatus.DeadlineExceeded, $"gRPC call {request.Service}/{request.Method} to cluster '{request.Upstream}' exceeded its {request.Timeout.TotalMilliseconds:F0} ms timeout");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The handler's ConnectTimeout, not the call's.
            return Failed(GrpcStatus.Unavailable, $"gRPC call to cluster '{request.Upstream}' failed: connection timeout");
        }
        catch (Exception ex) when (answered && ex is HttpRequestException or IOException or System.Net.Sockets.SocketException)
        {
            // Envoy's async client: a stream reset after the response began is onReset, closed with 13 (INTERNAL); only a failure
            // before it (the router's 503) is 14 (UNAVAILABLE), which plugins commonly read as "retry" or "fail open".
            return Failed(GrpcStatus.Internal, $"gRPC call {request.Service}/{request.Method} to cluster '{request.Upstream}' was reset after the response began: {ex.Message}");
        }
        catch (Exception ex) when (ex is HttpRequestException or System.Net.Sockets.SocketException)
        {
            return Failed(GrpcStatus.Unavailable, $"gRPC call to cluster '{request.Upstream}' failed: {ex.Message}");
        }
    }

    /// <summary>
    /// Opens a streaming gRPC call (<c>proxy_grpc_stream</c>); responses are reported to <paramref name="events"/>. An
    /// unknown or overflowing cluster is refused synchronously (<see cref="CalloutRefusedException"/>). No timeout:
    /// Envoy's <c>Context::grpcStream</c> sets none. A response message over <see cref="ProxyOptions.MaxCalloutResponseBytes"/>
    /// resets the stream and closes it with 8 (RESOURCE_EXHAUSTED), reported to <paramref name="tooLarge"/> too.
    /// </summary>
    public IGrpcStream OpenGrpcStream(GrpcStreamRequest request, IGrpcStreamEvents events, Action<CalloutResponseTooLargeException>? tooLarge = null)
    {
        var message = GrpcRequest(Resolve(request.Upstream), request.Upstream, request.Authority, request.Service, request.Method, request.InitialMetadata);
        Count(request.Upstream, message);
        return GrpcStreamCall.Start(_client, message, events, new GrpcStreamCall.MessageLimit(request.Upstream, _options.MaxCalloutResponseBytes, tooLarge),
            () => Leave(request.Upstream));
    }

    /// <summary>
    /// A <c>grpc-timeout</c> value as Envoy writes it (<c>Grpc::Common::toGrpcTimeout</c>): milliseconds, or the next
    /// larger unit while the number has more than 8 digits (the gRPC spec's limit), clipped at 99999999 hours.
    /// </summary>
    internal static string GrpcTimeout(TimeSpan timeout)
    {
        const long MaxValue = 99_999_999;
        var value = (long)Math.Ceiling(timeout.TotalMilliseconds);
        var unit = 'm';
        if (value > MaxValue)
        {
            value /= 1000;
            unit = 'S';
        }

        if (value > MaxValue)
        {
            value /= 60;
            unit = 'M';
        }

        if (value > MaxValue)
        {
            value = Math.Min(value / 60, MaxValue);
            unit = 'H';
        }

        return value.ToString(System.Globalization.CultureInfo.InvariantCulture) + unit;
    }

    private string Overflow(string cluster) =>
        $"cluster '{cluster}' has {_options.MaxCalloutsPerCluster} callouts in flight (--max-callouts-per-cluster): overflow";

    /// <summary>
    /// The callout's URL: the cluster's scheme and authority, its path (without a trailing '/'), then the plugin's
    /// <c>:path</c> exactly as given, as a routed request's (<see cref="Forwarding.Http1Upstream.BasePath"/>; before,
    /// a callout dropped the cluster's path). Only the cluster picks the destination: resolving the path against the
    /// cluster (a relative URI) let a network-path reference such as <c>//attacker:80/x</c> — which the auth example
    /// copies from the client's request — replace the host. Dot segments and escapes are not touched either.
    /// </summary>
    internal static Uri Target(Uri cluster, string pathAndQuery) =>
        new(cluster.GetLeftPart(UriPartial.Authority) + cluster.AbsolutePath.TrimEnd('/') + pathAndQuery,
            new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });

    /// <summary>
    /// A gRPC request head as Envoy's async client builds it (<c>Grpc::Common::prepareHeaders</c>): POST
    /// <c>/service/method</c>, <c>:authority</c> the <c>GrpcService</c>'s authority or else the cluster name (not the
    /// cluster's address), <c>te: trailers</c>, then the metadata. An authority the plugin gave that is no host name
    /// (<c>"a b"</c>) is refused (BAD_ARGUMENT); a cluster name that is none (<c>a..b</c>) leaves the cluster's own
    /// address as the authority.
    /// </summary>
    private static HttpRequestMessage GrpcRequest(Uri cluster, string clusterName, string? authority, string service, string method, HeaderMap metadata)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, Target(cluster, $"/{service}/{method}"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        try
        {
            message.Headers.Host = authority ?? clusterName;
        }
        catch (FormatException) when (authority is null)
        {
        }
        catch (FormatException)
        {
            message.Dispose();
            throw new CalloutRefusedException(CalloutRefusal.InvalidRequest, $"gRPC authority '{authority}' is not a host name");
        }

        message.Headers.TryAddWithoutValidation("te", "trailers");
        foreach (var (name, value) in metadata.Entries)
        {
            if (!name.StartsWith(':'))
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
        }

        return message;
    }

    private static GrpcCalloutResponse Failed(int status, string message) => new(status, message, null, new HeaderMap(0), new HeaderMap(0));

    internal static MediaTypeHeaderValue GrpcContentType { get; } = new("application/grpc");

    internal static HeaderMap ToMap(HttpHeaders headers, HttpHeaders contentHeaders)
    {
        var map = new HeaderMap();
        Copy(headers, map);
        Copy(contentHeaders, map);
        return map;
    }

    private bool TryResolve(string upstream, [NotNullWhen(true)] out Uri? cluster, out string error)
    {
        if (_options.Clusters.TryGetValue(upstream, out cluster))
        {
            error = "";
            return true;
        }

        error = $"unknown cluster '{upstream}'; configured clusters: {string.Join(", ", _options.Clusters.Keys)}";
        return false;
    }

    internal static void Copy(HttpHeaders from, HeaderMap to)
    {
        foreach (var header in from.NonValidated)
        {
            foreach (var value in header.Value)
            {
                to.Add(header.Key, value);
            }
        }
    }

    public void Dispose() => _client.Dispose();
}
