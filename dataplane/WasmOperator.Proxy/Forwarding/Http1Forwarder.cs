using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// Forwards a request (from an HTTP/1.x or an h2c client) to a plain-HTTP upstream as HTTP/1.1, over pooled
/// keep-alive connections, reading the response head and body straight from the socket buffer into Kestrel. It is
/// the proxy's fast path; YARP keeps gRPC, upgrades and TLS upstreams. Semantics follow RFC 9110/9112 as a proxy
/// must: hop-by-hop fields dropped both ways, body framing re-decided on each side, 1xx interim
/// responses swallowed, a stale pooled connection retried once on a fresh one when that is safe, and
/// the response relayed while the request body is still being sent (full duplex, as Envoy's router does).
/// </summary>
internal sealed class Http1Forwarder : IDisposable
{
    private readonly Http1ForwarderOptions _options;
    private readonly List<Http1Upstream> _upstreams = [];
    private readonly ITimer _sweeper;
    private readonly long _timeoutMs;
    private readonly Action? _retried;

    /// <param name="options">Limits and timeouts.</param>
    /// <param name="time">The clock of the sweeper that times requests out.</param>
    /// <param name="retried">Called each time a request is sent again on a new connection (the stale-connection retry).</param>
    public Http1Forwarder(Http1ForwarderOptions options, TimeProvider? time = null, Action? retried = null)
    {
        _options = options;
        _retried = retried;
        _timeoutMs = (long)options.ActivityTimeout.TotalMilliseconds;
        var period = TimeSpan.FromMilliseconds(Math.Clamp(options.ActivityTimeout.TotalMilliseconds / 4, 10, 1000));
        _sweeper = (time ?? TimeProvider.System).CreateTimer(static s => ((Http1Forwarder)s!).Sweep(), this, period, period);
    }

    /// <summary>An upstream for <paramref name="uri"/> (plain http) whose stalled requests this forwarder times out.</summary>
    public Http1Upstream AddUpstream(Uri uri)
    {
        var upstream = new Http1Upstream(uri, _options);
        lock (_upstreams)
        {
            _upstreams.Add(upstream);
        }

        return upstream;
    }

    private void Sweep()
    {
        var now = Environment.TickCount64;
        lock (_upstreams)
        {
            foreach (var upstream in _upstreams)
            {
                upstream.Pool.Sweep(now);
            }
        }
    }

    public void Dispose()
    {
        _sweeper.Dispose();
        lock (_upstreams)
        {
            foreach (var upstream in _upstreams)
            {
                upstream.Dispose();
            }
        }
    }

    private const int ChunkSize = 16 * 1024;
    private const int ChunkHeaderRoom = 18; // up to 16 hex digits + CRLF
    private static readonly byte[] LastChunk = "0\r\n"u8.ToArray();

    /// <summary>
    /// True when this request can take the fast path: HTTP/1.x or h2c, neither an upgrade nor a CONNECT (an h2c
    /// WebSocket's extended CONNECT included). An h2c request goes the HTTP/1.1 client's way, so both get the same
    /// retry of a stale connection, timeouts and upstream addresses (HttpClient retries a stale connection only when
    /// the upstream closed it cleanly, not when it reset it).
    /// </summary>
    public static bool CanForward(HttpContext context)
    {
        var protocol = context.Request.Protocol;
        return (HttpProtocol.IsHttp11(protocol) || HttpProtocol.IsHttp2(protocol) || HttpProtocol.IsHttp10(protocol)) &&
               context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest != true && !HttpMethods.IsConnect(context.Request.Method);
    }

    /// <param name="context">The request, answered with the upstream's response.</param>
    /// <param name="upstream">Where to.</param>
    /// <param name="observer">The plugin chain's response hook, if any.</param>
    /// <param name="requestId">An <c>x-request-id</c> field to add to the upstream request (the client sent none), or null.</param>
    [AsyncMethodBuilder(typeof(ThreadPoolingValueTaskMethodBuilder<>))]
    public async ValueTask<ForwardOutcome> ForwardAsync(HttpContext context, Http1Upstream upstream, IUpstreamResponseObserver? observer, Guid? requestId = null)
    {
        var request = context.Request;
        // Read once: Kestrel takes a lock each time the token is asked for (it is the same token for the whole request).
        var aborted = context.RequestAborted;
        var bodyKind = BodyKindOf(context);
        var head = new RequestHeadWriter(1024);
        Http1Connection? connection = null;
        CancellationTokenRegistration onAbort = default;
        var responseStarted = false;
        var bodyCut = false;
        Task<bool>? upload = null;
        try
        {
            // Without plugins the client's HTTP/1.x fields are vetted as they are written (an h2c client's were as it arrived).
            if (head.WriteHead(request, upstream.BasePath, upstream.Authority, clientFields: observer is null && !HttpProtocol.IsHttp2(request.Protocol), observer?.PluginTarget) is { } malformed)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return new ForwardOutcome(ForwardResult.MalformedRequest, malformed);
            }

            if (requestId is { } id)
            {
                head.Write("x-request-id: "u8);
                head.Write(id);
                head.Write("\r\n"u8);
            }

            if (bodyKind == RequestBodyKind.ContentLength)
            {
                head.Write("Content-Length: "u8);
                head.Write(request.ContentLength!.Value);
                head.Write("\r\n"u8);
            }
            else if (bodyKind == RequestBodyKind.Chunked)
            {
                head.Write("Transfer-Encoding: chunked\r\n"u8);
            }

            head.Write("\r\n"u8);

            Http1ResponseHead? response = null;
            for (var attempt = 0; response is null; attempt++)
            {
                // A request that is not sent again after a stale connection (a body, or not idempotent) has the kernel confirm it.
                connection = attempt == 0 ? upstream.Pool.TryRentIdle(confirm: bodyKind != RequestBodyKind.None || !IsIdempotent(request.Method)) : null;
                var reused = connection is not null;
                try
                {
                    connection ??= await upstream.Pool.ConnectAsync(aborted).ConfigureAwait(false);
                }
                catch (TimeoutException ex)
                {
                    context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    return new ForwardOutcome(ForwardResult.ConnectTimedOut, ex.Message);
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException && !aborted.IsCancellationRequested)
                {
                    context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    return new ForwardOutcome(ForwardResult.ConnectFailed, ex.Message);
                }

                observer?.OnUpstreamConnection(connection);

                // Before the abort hook is set: an abort cancels the body's token from then on.
                var stopBody = bodyKind == RequestBodyKind.None ? CancellationToken.None : connection.StartRequestBody();
                connection.Deadline = Environment.TickCount64 + _timeoutMs;
                onAbort.Dispose();
                onAbort = aborted.UnsafeRegister(static c => ((Http1Connection)c!).Abort(timedOut: false), connection);
                try
                {
                    await connection.SendAsync(head.Written, CancellationToken.None).ConfigureAwait(false);
                    if (bodyKind == RequestBodyKind.None)
                    {
                        response = await ReadHeadAsync(connection, HttpMethods.IsHead(request.Method), watchingBody: false).ConfigureAwait(false);
                    }
                    else
                    {
                        (response, upload) = await SendBodyAndReadHeadAsync(context, connection, bodyKind, observer, stopBody).ConfigureAwait(false);
                    }
                }
                catch (Exception ex) when (reused && attempt == 0 && bodyKind == RequestBodyKind.None && IsStale(ex) && !connection.TimedOut &&
                                           IsIdempotent(request.Method) && !aborted.IsCancellationRequested && observer is not { IsStopped: true })
                {
                    // The upstream closed an idle keep-alive connection as we reused it: nothing of this
                    // request was processed, so it is sent again on a new connection (as HttpClient does).
                    upstream.Pool.Close(connection);
                    connection = null;
                    observer?.OnRetry();
                    _retried?.Invoke();
                }
            }

            var downstream = context.Response;
            downstream.StatusCode = response.Status;
            foreach (var (name, value) in response.Headers)
            {
                downstream.Headers.Append(name, value);
            }

            if (response.ContentLength is { } length && (response.Framing == BodyFraming.ContentLength || HttpMethods.IsHead(request.Method)))
            {
                downstream.ContentLength = length;
            }

            if (observer is null && response.Framing is not BodyFraming.None && ResponseHead.GoesAhead(context))
            {
                // An h2c client gets the head of a response without a length (server-sent events) when it comes, not
                // with the first body bytes, which may be long in coming. Flushing a response that has not started sends its head.
                await downstream.Body.FlushAsync(aborted).ConfigureAwait(false);
            }

            var open = connection ?? throw new InvalidOperationException("a response without a connection");
            // The connection's last body, if only the forwarder read it, set to read this response as a new one would.
            var body = open.SpareBody?.Restart(response.Framing, response.ContentLength)
                ?? new Http1ResponseBody(open, response.Framing, response.ContentLength, _options.MaxResponseHeadBytes, _timeoutMs);
            open.SpareBody = null;

            var copy = observer is null || await observer.OnResponseAsync(new UpstreamResponse(response, body), aborted).ConfigureAwait(false);
            if (copy)
            {
                while (true)
                {
                    var piece = await body.NextAsync(ChunkSize, CancellationToken.None).ConfigureAwait(false);
                    if (piece.IsEmpty)
                    {
                        break;
                    }

                    responseStarted = true;
                    await downstream.Body.WriteAsync(piece, aborted).ConfigureAwait(false);
                    open.Deadline = Environment.TickCount64 + _timeoutMs;
                }

                if (body.Trailers.Count > 0 && downstream.SupportsTrailers())
                {
                    foreach (var (name, value) in body.Trailers)
                    {
                        downstream.AppendTrailer(name, value);
                    }
                }
            }

            if (upload is not null)
            {
                // The response ended with the body still going up: as Envoy resets the upstream request then, the rest is
                // not sent. An upload that did not end whole (even by a failure of its own now) leaves the connection unusable.
                if (!upload.IsCompleted)
                {
                    open.StopRequestBody();
                }

                await ((Task)upload).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                bodyCut = !(upload.IsCompletedSuccessfully && await upload.ConfigureAwait(false));
            }

            if (bodyCut)
            {
                // The rest of the client's body was never read: Kestrel drains it (for up to 5 s, then closes; over h2c it ends
                // the stream with a reset after the response), and sends a started response before it drains. A "Connection:
                // close" would skip the drain and reset the client, which may then lose the answer while it still sends
                // (Envoy's delayed close avoids the same).
                await downstream.StartAsync(aborted).ConfigureAwait(false);
            }

            onAbort.Dispose();
            onAbort = default;
            // A connection the observer aborted meanwhile (a plugin stopped the stream from outside a callback) is not reused.
            var stillOurs = observer?.EndUpstreamConnection() != false;
            open.KeepAlive &= response.KeepAlive && body.Completed && !bodyCut && stillOurs;
            if (observer is null)
            {
                // Only the forwarder saw this head and body (plugins may keep theirs): the connection's next response reuses them.
                open.SpareHead = response;
                open.SpareBody = body;
            }

            upstream.Pool.Return(open);
            connection = null;
            return ForwardOutcome.Ok;
        }
        catch (Exception caught) when (caught is OperationCanceledException or IOException or SocketException or UpstreamProtocolException or ObjectDisposedException)
        {
            var ex = caught;
            if (upload is not null && connection is not null)
            {
                // The response failed: the upload stops too. If it failed first, on the request's side (the client's body, a
                // plugin, an edit refused), it aborted the connection and so failed the response: its error is the cause.
                connection.StopRequestBody();
                await ((Task)upload).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                ex = upload.Exception?.InnerException ?? ex;
            }

            responseStarted |= context.Response.HasStarted;
            if (aborted.IsCancellationRequested)
            {
                return new ForwardOutcome(ForwardResult.ClientAborted);
            }

            if (ClientReset.Caused(ex))
            {
                // The client reset its connection while its body was read; Kestrel may not have seen it go yet.
                ClientReset.Abort(context);
                return new ForwardOutcome(ForwardResult.ClientAborted, ex.Message);
            }

            if (ex is BadHttpRequestException bad)
            {
                // The client's body was malformed or cut off (Kestrel's verdict): its fault, not the upstream's. A response
                // already under way is reset: ended normally, it would look complete.
                if (responseStarted)
                {
                    context.Abort();
                }
                else
                {
                    context.Response.Clear();
                    context.Response.StatusCode = bad.StatusCode;
                }

                return new ForwardOutcome(ForwardResult.ClientAborted, ex.Message);
            }

            if (responseStarted)
            {
                // A body that stopped moving for the timeout is the upstream's timeout (UT), not a connection it ended.
                context.Abort();
                return connection?.TimedOut == true
                    ? new ForwardOutcome(ForwardResult.Timeout, $"no progress within {_options.ActivityTimeout.TotalSeconds} s in the middle of the response body")
                    : new ForwardOutcome(ForwardResult.ResponseAborted, ex.Message);
            }

            context.Response.Clear();
            if (connection?.TimedOut == true)
            {
                context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
                return new ForwardOutcome(ForwardResult.Timeout, $"no progress within {_options.ActivityTimeout.TotalSeconds} s");
            }

            if (ex is InvalidRequestException)
            {
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                return new ForwardOutcome(ForwardResult.InvalidRequest, ex.Message);
            }

            // As Envoy: a connection that failed or closed before the response is 503, an invalid response 502.
            var invalid = ex is UpstreamProtocolException;
            context.Response.StatusCode = invalid ? StatusCodes.Status502BadGateway : StatusCodes.Status503ServiceUnavailable;
            return new ForwardOutcome(invalid ? ForwardResult.InvalidResponse : ForwardResult.RequestFailed, ex.Message);
        }
        finally
        {
            onAbort.Dispose();
            if (upload is { IsCompleted: false })
            {
                // An unexpected failure: the upload must end before the request does (it reads the request body).
                connection?.StopRequestBody();
                await ((Task)upload).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            head.Dispose();
            if (connection is not null)
            {
                upstream.Pool.Close(connection);
            }
        }
    }

    private static bool IsStale(Exception ex) => ex is (SocketException or IOException or UpstreamClosedException) and not InvalidRequestException;

    /// <summary>Methods a proxy may send again after a failure (RFC 9110 §9.2.2); a POST is never repeated.</summary>
    private static bool IsIdempotent(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method) ||
        HttpMethods.IsPut(method) || HttpMethods.IsDelete(method);

    private static RequestBodyKind BodyKindOf(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentLength is { } length)
        {
            return length == 0 && !HttpMethods.IsPost(request.Method) && !HttpMethods.IsPut(request.Method) && !HttpMethods.IsPatch(request.Method)
                ? RequestBodyKind.None
                : RequestBodyKind.ContentLength;
        }

        return context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true ? RequestBodyKind.Chunked : RequestBodyKind.None;
    }

    /// <summary>
    /// Starts sending the request body and reads the response head meanwhile; returns the final head and the upload,
    /// which may still be running: the response is relayed while the body goes on (full duplex, as Envoy and nginx),
    /// so an upstream that streams its answer while it reads (an echo, a transcoder) is not left waiting on full
    /// socket buffers. An answer that comes complete before the body ended (a 413, a 401 from an upstream that then
    /// closes or stops reading) stops the body (RFC 9112 §9.6; Envoy resets the upstream request), and the upload is
    /// over before that answer is relayed: a plugin still on the body's last chunk may stop the stream, and its reply wins.
    /// </summary>
    private async Task<(Http1ResponseHead Head, Task<bool> Upload)> SendBodyAndReadHeadAsync(HttpContext context, Http1Connection connection,
        RequestBodyKind kind, IUpstreamResponseObserver? observer, CancellationToken stop)
    {
        var answer = ReadHeadAsync(connection, HttpMethods.IsHead(context.Request.Method), watchingBody: true);
        var upload = UploadAsync(context, connection, kind, observer, stop);
        Http1ResponseHead head;
        try
        {
            head = await answer.ConfigureAwait(false);
        }
        catch
        {
            // No answer (the read stopped the body). The request's own failure, if that is what aborted the connection,
            // stands; else the upstream's: it closed or reset (503), sent garbage (502) or the request timed out (504).
            await upload.ConfigureAwait(false);
            throw;
        }

        if (connection.RequestBodyStopped)
        {
            await upload.ConfigureAwait(false);
        }

        return (head, upload);
    }

    /// <summary>
    /// Sends the request body: true when it went whole, false when the upstream cut it short (its answer stopped it, it
    /// closed or reset) or the request timed out. A failure on the request's side (the client's body, a plugin that
    /// stopped the stream, an edit that cannot be sent) aborts the connection, so the response read fails too, and is thrown.
    /// </summary>
    private async Task<bool> UploadAsync(HttpContext context, Http1Connection connection, RequestBodyKind kind, IUpstreamResponseObserver? observer,
        CancellationToken stop)
    {
        try
        {
            await SendBodyAsync(context, connection, kind, observer, stop).ConfigureAwait(false);
            connection.EndRequestBody();
            return true;
        }
        catch (Exception ex) when ((connection.RequestBodyStopped || ex is UpstreamSendException || connection.TimedOut) &&
                                   !context.RequestAborted.IsCancellationRequested && observer is not { IsStopped: true })
        {
            return false;
        }
        catch
        {
            connection.Abort(timedOut: false);
            throw;
        }
    }

    private async Task SendBodyAsync(HttpContext context, Http1Connection connection, RequestBodyKind kind, IUpstreamResponseObserver? observer,
        CancellationToken stop)
    {
        // Without plugins the body is Kestrel's own, read through its PipeReader: a stop cancels a read waiting on the
        // client (CancelPendingRead leaves Kestrel able to drain the rest). A plugin's body stream is read here through a
        // stream: it reads Kestrel's through the same reader, and the exchange ends that read on a stop of its own.
        var pipe = observer is null ? context.Request.BodyReader : null;
        using var cancelRead = pipe is null ? default : stop.UnsafeRegister(static r => ClientBodyReader.CancelRead((PipeReader)r!), pipe);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkHeaderRoom + ChunkSize + 2);
        try
        {
            var source = context.Request.Body;
            var declared = context.Request.ContentLength ?? 0;
            long sent = 0;
            while (true)
            {
                int read;
                try
                {
                    read = pipe is null
                        ? await source.ReadAsync(buffer.AsMemory(ChunkHeaderRoom, ChunkSize), context.RequestAborted).ConfigureAwait(false)
                        : await ClientBodyReader.ReadAsync(pipe, buffer.AsMemory(ChunkHeaderRoom, ChunkSize)).ConfigureAwait(false);
                }
                catch (IOException ex) when (ex is not BadHttpRequestException && !ClientReset.Caused(ex) && observer is not { IsStopped: true })
                {
                    // Kestrel reports some malformed bodies (a chunk size that overflows) as a bare IOException: reading the
                    // client's body failed, which is the client's fault (400), not the upstream's (503, counted against it).
                    throw new BadHttpRequestException("the request body is malformed: " + ex.Message, StatusCodes.Status400BadRequest, ex);
                }

                if (read == 0)
                {
                    break;
                }

                stop.ThrowIfCancellationRequested();

                connection.Deadline = Environment.TickCount64 + _timeoutMs;
                if (kind == RequestBodyKind.ContentLength)
                {
                    // A plugin may change a body chunk while it streams; more (or fewer) bytes than the
                    // Content-Length already sent would be read by the upstream as the start of another request.
                    sent += read;
                    if (sent > declared)
                    {
                        throw new InvalidRequestException($"the request body grew past its Content-Length ({declared}) while plugins streamed it");
                    }

                    await SendAsync(connection, buffer.AsMemory(ChunkHeaderRoom, read), stop).ConfigureAwait(false);
                    continue;
                }

                // One send per chunk: the size line is written right before the data, CRLF right after.
                var size = read.ToString("X", System.Globalization.CultureInfo.InvariantCulture);
                var start = ChunkHeaderRoom - size.Length - 2;
                System.Text.Encoding.ASCII.GetBytes(size, buffer.AsSpan(start));
                buffer[ChunkHeaderRoom - 2] = (byte)'\r';
                buffer[ChunkHeaderRoom - 1] = (byte)'\n';
                buffer[ChunkHeaderRoom + read] = (byte)'\r';
                buffer[ChunkHeaderRoom + read + 1] = (byte)'\n';
                await SendAsync(connection, buffer.AsMemory(start, ChunkHeaderRoom - start + read + 2), stop).ConfigureAwait(false);
            }

            if (kind == RequestBodyKind.ContentLength && sent != declared)
            {
                throw new InvalidRequestException($"the request body ended at {sent} of its Content-Length ({declared}) bytes");
            }

            if (kind == RequestBodyKind.Chunked)
            {
                var end = new RequestHeadWriter(256);
                try
                {
                    end.Write(LastChunk);
                    // Request trailers go on (as plugins left them): the chunked encoding is the one way HTTP/1.1 carries them.
                    // Not those no trailer may carry (a client's content-length or host, a plugin's connection field).
                    if (observer is not null)
                    {
                        foreach (var (name, value) in observer.RequestTrailerFields())
                        {
                            if (!TrailerFields.IsForbidden(name))
                            {
                                end.Header(name, value);
                            }
                        }
                    }
                    else if (context.Features.Get<IHttpRequestTrailersFeature>() is { Available: true } received)
                    {
                        if (RequestFields.Unsendable(received.Trailers, "trailer") is { } malformed)
                        {
                            // Kestrel's HTTP/2 takes trailers an HTTP/1.1 message cannot carry: the client's 400 (or a reset).
                            throw new BadHttpRequestException(malformed, StatusCodes.Status400BadRequest);
                        }

                        foreach (var (name, values) in received.Trailers)
                        {
                            if (!TrailerFields.IsForbidden(name))
                            {
                                end.Header(name, values);
                            }
                        }
                    }

                    end.Write("\r\n"u8);
                    await SendAsync(connection, end.Written, stop).ConfigureAwait(false);
                }
                finally
                {
                    end.Dispose();
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Sends a piece of the request body; a failure is the upstream's (it closed or reset), told apart from the client's.</summary>
    private static async ValueTask SendAsync(Http1Connection connection, ReadOnlyMemory<byte> data, CancellationToken stop)
    {
        try
        {
            await connection.SendAsync(data, stop).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            throw new UpstreamSendException(ex);
        }
    }

    /// <summary>
    /// Reads response heads until a final (non-1xx) one; 1xx interim responses are not relayed. While the request
    /// body is still being sent (<paramref name="watchingBody"/>), a failure or an answer that is already complete
    /// stops the body: Envoy resets the upstream request once the response ended before it. "Connection: close" alone
    /// does not: a server streaming its answer may still read the whole body.
    /// </summary>
    [AsyncMethodBuilder(typeof(ThreadPoolingValueTaskMethodBuilder<>))]
    private async ValueTask<Http1ResponseHead> ReadHeadAsync(Http1Connection connection, bool headRequest, bool watchingBody)
    {
        try
        {
            var received = false;
            while (true)
            {
                var end = Http1ResponseHead.FindEnd(connection.Buffered, out var length);
                if (end < 0)
                {
                    int filled;
                    try
                    {
                        // The socket is awaited here, not through FillAsync: one pooled state machine less per response.
                        var receive = connection.Receive(_options.MaxResponseHeadBytes, CancellationToken.None);
                        filled = receive.IsCompleted
                            ? connection.Received(receive.GetAwaiter().GetResult(), waited: false)
                            : connection.Received(await receive.ConfigureAwait(false), waited: true);
                    }
                    catch (Exception ex) when (received && ex is SocketException or IOException)
                    {
                        // Part of the response arrived: the request was processed, so this is no stale connection to retry on.
                        throw new UpstreamProtocolException($"upstream connection failed in the middle of the response head: {ex.Message}");
                    }

                    if (filled == 0)
                    {
                        throw received
                            ? new UpstreamProtocolException("upstream closed the connection in the middle of the response head")
                            : new UpstreamClosedException();
                    }

                    received = true;
                    continue;
                }

                var spare = connection.SpareHead;
                connection.SpareHead = null;
                var head = Http1ResponseHead.Parse(connection.Buffered[..length], headRequest, spare);
                connection.Consume(end);
                if (head.Status == StatusCodes.Status101SwitchingProtocols)
                {
                    throw new UpstreamProtocolException("upstream switched protocols on a request that did not ask for it");
                }

                if (head.Status < 200)
                {
                    continue;
                }

                if (watchingBody && (head.Framing == BodyFraming.None ||
                                     (head.Framing == BodyFraming.ContentLength && connection.BufferedCount >= head.ContentLength)))
                {
                    connection.StopRequestBody();
                }

                return head;
            }
        }
        catch when (watchingBody)
        {
            connection.StopRequestBody();
            throw;
        }
    }

    private enum RequestBodyKind
    {
        None,
        ContentLength,
        Chunked,
    }
}

/// <summary>The upstream closed the connection before sending a byte of the response.</summary>
internal sealed class UpstreamClosedException() : IOException("upstream closed the connection before responding");

/// <summary>Sending the request body to the upstream failed (it closed or reset the connection).</summary>
internal sealed class UpstreamSendException(Exception inner) : IOException("sending the request body failed: " + inner.Message, inner);
