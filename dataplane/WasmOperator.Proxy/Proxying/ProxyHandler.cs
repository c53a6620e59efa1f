using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;
using Prometheus;
using WasmOperator.Proxy.Chain;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Forwarding;
using WasmOperator.Proxy.Metrics;
using Yarp.ReverseProxy.Forwarder;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// The data-plane request path: acquire the serving chain, run it, forward: to a plain-HTTP upstream through the HTTP/1.1
/// forwarder (from HTTP/1.1 and h2c clients alike), gRPC, upgrades and TLS upstreams through YARP.
/// </summary>
internal sealed partial class ProxyHandler : IDisposable
{
    private readonly ChainManager _chains;
    private readonly IHttpForwarder _forwarder;
    private readonly HttpMessageInvoker _invoker;
    private readonly HttpMessageInvoker _observedGrpcInvoker;
    private readonly HttpMessageInvoker _upgradeInvoker;
    private readonly ProxyOptions _options;
    private readonly ProxyMetrics _metrics;
    private readonly ILogger _log;
    private readonly StripedCount[] _byClass;
    private readonly Dictionary<string, string> _prefixes;
    private readonly ForwarderRequestConfig _http11;
    private readonly ForwarderRequestConfig _http11Stream;
    private readonly ForwarderRequestConfig _http11StreamTimedByExchange;
    private readonly ForwarderRequestConfig _http11TimedByExchange;
    private readonly ForwarderRequestConfig _http2;
    private readonly ForwarderRequestConfig _http2TimedByExchange;
    private readonly Http1Forwarder _fast;
    private readonly Shutdown.ConnectionDrainer _drainer;
    private readonly LingeringContexts _lingering;
    private readonly Dictionary<string, Http1Upstream> _fastUpstreams;
    private readonly int _defaultPort;

    public ProxyHandler(ChainManager chains, IHttpForwarder forwarder, ProxyOptions options, ProxyMetrics metrics, Shutdown.ConnectionDrainer drainer,
        LingeringContexts lingering, ILogger<ProxyHandler> log)
    {
        _chains = chains;
        _lingering = lingering;
        _drainer = drainer;
        _forwarder = forwarder;
        _options = options;
        _metrics = metrics;
        _log = log;
        _http11 = new ForwarderRequestConfig { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower, ActivityTimeout = options.UpstreamTimeout };
        // Streams that may rightly stay quiet for minutes (gRPC calls, upgraded and CONNECT streams) go idle by Envoy's
        // stream_idle_timeout, not by the upstream timeout of an ordinary request.
        _http11Stream = _http11 with { ActivityTimeout = options.StreamIdleTimeout };
        // Through plugins an upgraded stream is timed by its exchange (Exchange.TimeUpgradedStream): plugins hold bytes
        // YARP never sees. Until the 101, UpgradeResponseTimeout bounds the wait.
        _http11StreamTimedByExchange = _http11Stream with { ActivityTimeout = Timeout.InfiniteTimeSpan };
        // Through plugins the exchange times the upstream itself (Exchange.TimeUpstream): it reads the response body, so
        // YARP's timer, which only its own copies start over, would end a response still streaming after the timeout.
        _http11TimedByExchange = _http11 with { ActivityTimeout = Timeout.InfiniteTimeSpan };
        _http2 = new ForwarderRequestConfig { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, ActivityTimeout = options.StreamIdleTimeout };
        // Through plugins a gRPC call is timed by its exchange (Exchange.StreamIdleToken): plugins hold bytes YARP never sees.
        _http2TimedByExchange = _http2 with { ActivityTimeout = Timeout.InfiniteTimeSpan };
        var upstreams = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
            ConnectTimeout = options.ConnectTimeout,
            // Header values are bytes, one char per byte (HeaderMap's remarks).
            RequestHeaderEncodingSelector = static (_, _) => System.Text.Encoding.Latin1,
            ResponseHeaderEncodingSelector = static (_, _) => System.Text.Encoding.Latin1,
        };
        // HTTP/2 requests (gRPC) get a body HttpClient can send again when the upstream refused their stream.
        _invoker = new HttpMessageInvoker(new ReplayableRequestHandler(upstreams, () => metrics.UpstreamRetries.Inc(), observed: false, log));
        // gRPC calls through plugins: a call sent again is one more upstream attempt for them.
        _observedGrpcInvoker = new HttpMessageInvoker(new ReplayableRequestHandler(upstreams, () => metrics.UpstreamRetries.Inc(), observed: true, log), disposeHandler: false);
        _upgradeInvoker = new HttpMessageInvoker(new UpgradeResponseTimeout(options.UpstreamTimeout, upstreams), disposeHandler: false);
        _byClass = [.. new[] { "1xx", "2xx", "3xx", "4xx", "5xx" }.Select(c => metrics.Striped(metrics.Requests.WithLabels(c)))];
        _prefixes = options.Clusters.ToDictionary(c => c.Key, c => c.Value.ToString().TrimEnd('/'), StringComparer.Ordinal);
        _defaultPort = options.Clusters[ProxyOptions.DefaultCluster].Port;
        var fastOptions = new Http1ForwarderOptions { ActivityTimeout = options.UpstreamTimeout, ConnectTimeout = options.ConnectTimeout, ThreadAffinity = SocketThreads.InlineCompletions };
        _fast = new Http1Forwarder(fastOptions, retried: () => metrics.UpstreamRetries.Inc());
        _fastUpstreams = options.Clusters.Where(c => options.Http1Forwarder && Http1Upstream.Supports(c.Value))
            .ToDictionary(c => c.Key, c => _fast.AddUpstream(c.Value), StringComparer.Ordinal);
    }

    private static readonly ProxyWasm.Host.LocalResponse NotLoaded = new(
        503, "wasm_plugins_not_loaded", "plugin configuration not loaded"u8.ToArray(), new ProxyWasm.Host.HeaderMap(), null);

    /// <summary>
    /// Handles one request. Kestrel's delegate wants a Task: the pooled method's task wrapped in one (about 80 B) costs less
    /// than the state machine box an async Task method allocates for every request that waits (about 250 B).
    /// </summary>
    public Task HandleAsync(HttpContext context) => HandleRequestAsync(context).AsTask();

    [AsyncMethodBuilder(typeof(ThreadPoolingValueTaskMethodBuilder))]
    private async ValueTask HandleRequestAsync(HttpContext context)
    {
        // Counted until the handling ends, whichever way (shutdown says how many it waited for, and cut).
        using var inFlight = _drainer.Enter();
        if (Malformed(context.Request) is { } malformed)
        {
            // As Envoy's codec refuses it (RFC 9113 §8.2.1): neither plugins nor an upstream see the request.
            var (replyHeaders, replyBody) = LocalReply.Build(context.Request, LocalReply.MalformedRequest(context.Request, malformed));
            await LocalReply.WriteAsync(context, replyHeaders, replyBody).ConfigureAwait(false);
            _byClass[3].Inc();
            return;
        }

        if (context.Request.Headers.Host.Count == 0)
        {
            if (RequestTarget.AbsoluteFormAuthority(context.Request) is not { } named)
            {
                // As Envoy's connection manager (missing_host_header): forwarded, the request went up under the upstream's
                // own address as its Host. Kestrel refuses an HTTP/1.1 request without one; HTTP/1.0 and HTTP/2 reach here.
                var (replyHeaders, replyBody) = LocalReply.Build(context.Request, LocalReply.MissingHost());
                await LocalReply.WriteAsync(context, replyHeaders, replyBody).ConfigureAwait(false);
                _byClass[3].Inc();
                return;
            }

            // An HTTP/1.0 request in absolute form names its host in the target: Envoy's codec makes that its Host.
            context.Request.Host = new HostString(named);
        }

        if (HttpMethods.IsConnect(context.Request.Method) && context.Features.Get<IHttpExtendedConnectFeature>() is not { IsExtendedConnect: true })
        {
            await RefuseConnectAsync(context).ConfigureAwait(false);
            _byClass[3].Inc();
            return;
        }

        if (context.Request.Headers.Upgrade.Count != 0 && AsksForUpgrade(context.Request.Headers.Connection))
        {
            var upgrade = context.Request.Headers.Upgrade.ToString();
            if (upgrade.Equals("h2c", StringComparison.OrdinalIgnoreCase))
            {
                IgnoreH2cUpgrade(context);
            }
            else if (!upgrade.Equals("websocket", StringComparison.OrdinalIgnoreCase))
            {
                await RefuseUpgradeAsync(context, upgrade).ConfigureAwait(false);
                _byClass[3].Inc();
                return;
            }
        }

        ConnectionListedFields.Remove(context.Request.Headers);

        // x-request-id for a request without one: plugins see it in their header map; without plugins the
        // fast path writes it straight into the upstream request (no header-dictionary insert, no string per request).
        Guid? requestId = _options.GenerateRequestId && !context.Request.Headers.ContainsKey(RequestIds.Header) ? RequestIds.New() : null;
        var chain = _chains.Acquire();
        if (chain is null && _options.PluginsFile is not null)
        {
            // The plugin file has never loaded: serving without the plugins it names (an authorizer, say)
            // would fail open. Until a valid file loads, requests get a 503 (and /ready says not ready).
            var (headers, body) = LocalReply.Build(context.Request, NotLoaded);
            await LocalReply.WriteAsync(context, headers, body).ConfigureAwait(false);
            _byClass[4].Inc();
            return;
        }

        var grpc = LocalReply.IsGrpc(context.Request);
        if (grpc && context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } bodyRate)
        {
            // A gRPC stream may send nothing for minutes (Envoy has no minimum rate): before its body is read, or
            // Kestrel resets the client's whole HTTP/2 connection after 5 s of quiet. YARP does this only inside
            // SendAsync, after plugins have started reading the body.
            bodyRate.MinDataRate = null;
        }

        Exchange? exchange = null;
        try
        {
            // match[].ports select by destination port, as in Istio: the port of the workload (inbound) or of
            // the target service (outbound), i.e. of the cluster the request is routed to, not the proxy's own.
            var port = DestinationPort(context.Request.Path);
            var entries = chain?.For(port) ?? [];
            if (entries.Length == 0)
            {
                await ForwardAsync(context, grpc, requestId, null).ConfigureAwait(false);
            }
            else if (PluginRequestHeaders(context, requestId, out var malformedFields) is not { } requestHeaders)
            {
                await RefuseMalformedAsync(context, malformedFields!).ConfigureAwait(false);
            }
            else
            {
                exchange = new Exchange(context, requestHeaders, entries, _options, _lingering, _log);
                context.Features.Set(exchange);
                try
                {
                    exchange.Start();
                    if (await exchange.OnRequestAsync().ConfigureAwait(false) && !RefuseRerouteSkippingPlugins(context, chain!, port, entries, exchange))
                    {
                        await ForwardAsync(context, grpc, null, exchange).ConfigureAwait(false);
                        if (exchange.IsStopped && !context.Response.HasStarted)
                        {
                            // A plugin stopped the request while its body streamed upstream.
                            await exchange.WriteReplyAsync().ConfigureAwait(false);
                        }
                    }
                    else if (exchange.EndedByStreamIdleTimeout)
                    {
                        // The client sent nothing for the stream idle timeout while the proxy read its body for the plugins.
                        await EndIdleStreamAsync(context, exchange).ConfigureAwait(false);
                    }
                    else
                    {
                        await exchange.WriteReplyAsync().ConfigureAwait(false);
                    }
                }
                catch (Exception ex) when (ClientWentAway(context, ex))
                {
                    // The client left while a plugin held the request (or its body): DC for on_log, which comes next, as
                    // Envoy sets it on every stream of a closed downstream connection. Counted below.
                    exchange.ForwardFailed(ForwardResult.ClientAborted, null);
                    throw;
                }
                finally
                {
                    // A read of the request body started while a plugin held part of it may still wait on the client.
                    await exchange.EndRequestReadAsync().ConfigureAwait(false);
                    if (exchange.MustLeaveIoThread)
                    {
                        await Task.Yield();
                    }

                    exchange.Complete();
                }
            }
        }
        catch (Exception ex) when (ClientWentAway(context, ex))
        {
            // The client reset the stream or left while the proxy or a plugin waited on it (a paused request, a body a
            // plugin holds): Envoy's DC, counted as such. Neither a response class nor an error of the proxy's own. Or a
            // plugin closed the stream, which aborted the connection under what waited on it.
            if (exchange is { ResetByPlugin: true })
            {
                _metrics.PluginResets.Inc();
            }

            CountDownstreamReset(context);
            context.Abort();
            return;
        }
        catch (Exception ex) when (ex is not BadHttpRequestException)
        {
            // A failure no step of the proxy expected: answered and counted as the 5xx it is, in one line, not left to
            // Kestrel (which logs a stack trace, sends a bare 500 that no counter sees, or resets the stream). Kestrel's
            // verdict on the client's request (a body too slow: 408, too large: 413) is left to Kestrel, which answers it.
            await EndOnUnexpectedFailureAsync(context, ex).ConfigureAwait(false);
            return;
        }
        finally
        {
            chain?.Release();
        }

        // A stream a plugin closed is a reset the proxy sent. Before any response it got none: no response class (Envoy
        // counts downstream_rq_Nxx for the responses it encodes), and the client did not reset it. Its status (503 from
        // a failure path the close cut short, 200 untouched) was never sent.
        if (exchange is { ResetByPlugin: true })
        {
            _metrics.PluginResets.Inc();
            if (!context.Response.HasStarted)
            {
                return;
            }
        }

        // A client that went away before any response got none: no response class, a downstream reset (once: the
        // forwarding may have counted it already).
        if (!context.Response.HasStarted && (context.RequestAborted.IsCancellationRequested || ClientReset.AbortedBy(context)))
        {
            CountDownstreamReset(context);
            return;
        }

        var code = context.Response.StatusCode / 100;
        if (code is >= 1 and <= 5)
        {
            _byClass[code - 1].Inc();
        }
    }

    private static readonly ProxyWasm.Host.LocalResponse InternalError = new(
        500, "proxy_internal_error", "internal error"u8.ToArray(), new ProxyWasm.Host.HeaderMap(), null);

    /// <summary>
    /// Ends a request on an exception nothing handled: a 500 (not through plugins, which may be its cause) if the response
    /// has not started, else the stream is reset; counted as a 5xx and logged in one line.
    /// </summary>
    private async Task EndOnUnexpectedFailureAsync(HttpContext context, Exception ex)
    {
        var request = context.Request;
        var started = context.Response.HasStarted;
        // With its stack trace (still one line: the log writes line breaks as \n): no step expected it, so it is a defect.
        LogUnexpectedFailure(_log, request.Method, request.Path.Value ?? "", ex.GetType().Name, ex.Message,
            started ? "the response had started, so its stream was reset" : "answered 500", ex);
        _byClass[4].Inc();
        if (started)
        {
            context.Abort();
            return;
        }

        try
        {
            var (headers, body) = LocalReply.Build(request, InternalError);
            await LocalReply.WriteAsync(context, headers, body).ConfigureAwait(false);
        }
        catch (Exception) when (context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
        {
            context.Abort();
        }
    }

    /// <summary>
    /// Why a request cannot be forwarded as it came (<see cref="RequestTarget"/>, <see cref="RequestFields"/>), null when it
    /// can. The fields of HTTP/1.x requests passed Kestrel's parser, which takes no such field.
    /// </summary>
    private static string? Malformed(HttpRequest request) =>
        RequestTarget.Unsendable(request) ??
        (HttpProtocol.IsHttp2(request.Protocol) || HttpProtocol.IsHttp3(request.Protocol) ? RequestFields.Unsendable(request.Headers, "header") : null);

    /// <summary>
    /// Why the client's HTTP/1.x header values cannot be forwarded (<see cref="RequestFields"/>: Kestrel's parser takes
    /// control characters in them), null when they can. Checked before plugins run and before YARP forwards; without
    /// plugins the fast path checks them as it writes them (<see cref="RequestHeadWriter.WriteHead"/>), so the request
    /// path nginx is measured against makes no pass of its own. An HTTP/2 client's were checked as it arrived (<see cref="Malformed"/>).
    /// </summary>
    private static string? MalformedHttp1Fields(HttpRequest request) =>
        HttpProtocol.IsHttp2(request.Protocol) || HttpProtocol.IsHttp3(request.Protocol) ? null : RequestFields.Unsendable(request.Headers, "header");

    /// <summary>
    /// The request's header map for its plugins, with the <c>x-request-id</c> to add and <c>x-forwarded-proto</c> as the
    /// upstream will see them (without plugins the forwarders add those). Null when an HTTP/1.x client's field cannot be
    /// forwarded (<see cref="MalformedHttp1Fields"/>, vetted in the same pass over the fields): <paramref name="malformed"/> says why.
    /// </summary>
    private static ProxyWasm.Host.HeaderMap? PluginRequestHeaders(HttpContext context, Guid? requestId, out string? malformed)
    {
        var request = context.Request;
        if (requestId is { } id)
        {
            request.Headers[RequestIds.Header] = id.ToString();
        }

        if (!request.Headers.ContainsKey(ForwardedProto.Header))
        {
            request.Headers[ForwardedProto.Header] = ForwardedProto.Http;
        }

        var vet = !HttpProtocol.IsHttp2(request.Protocol) && !HttpProtocol.IsHttp3(request.Protocol);
        var map = Exchange.BuildRequestHeaders(context, vet, out malformed);
        return malformed is null ? map : null;
    }

    /// <summary>Answers a request the client sent malformed: 400, as Envoy's codec does; neither plugins nor an upstream see it.</summary>
    private static Task RefuseMalformedAsync(HttpContext context, string reason)
    {
        var (headers, body) = LocalReply.Build(context.Request, LocalReply.MalformedRequest(context.Request, reason));
        return LocalReply.WriteAsync(context, headers, body);
    }

    /// <summary>
    /// A CONNECT (not an extended CONNECT carrying a WebSocket): no route of the proxy accepts one, and neither forwarder
    /// can open a tunnel (HttpClient refuses the method), so it was a 503 blamed on the upstream, which never saw it. Envoy
    /// answers a CONNECT no route matches 404 (route_not_found, NR), and one whose route does not enable the upgrade 403
    /// (upgrade_failed), closing the connection lest tunnel bytes be read as the next request; here it is the former, and
    /// the connection is closed too.
    /// </summary>
    private async Task RefuseConnectAsync(HttpContext context)
    {
        var request = context.Request;
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Host.Value ?? "";
        LogConnectRefused(_log, Http1ResponseHead.Printable(target));
        var headers = new ProxyWasm.Host.HeaderMap();
        if (!HttpProtocol.IsHttp2(request.Protocol) && !HttpProtocol.IsHttp3(request.Protocol))
        {
            headers.Add("connection", "close");
        }

        var (replyHeaders, body) = LocalReply.Build(request, new ProxyWasm.Host.LocalResponse(404, "route_not_found", [], headers, null));
        await LocalReply.WriteAsync(context, replyHeaders, body).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether Connection lists the upgrade option, which with an Upgrade field makes a request an upgrade, as Envoy tells
    /// it (Utility::isUpgrade). Not Kestrel's IsUpgradableRequest, which is false for a request with a body: Envoy refuses
    /// that upgrade all the same, and forwarded it went up stripped of its Upgrade.
    /// </summary>
    private static bool AsksForUpgrade(Microsoft.Extensions.Primitives.StringValues connection)
    {
        foreach (var value in connection)
        {
            foreach (var range in value.AsSpan().Split(','))
            {
                if (value.AsSpan()[range].Trim(" \t").Equals("upgrade", StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// An h2c upgrade (RFC 7540 §3.2) is ignored, as Envoy's HTTP/1 codec ignores it: its Upgrade and HTTP2-Settings are
    /// dropped before plugins see the request, which is served as HTTP/1.1. Kestrel takes it for an upgrade like any other,
    /// which sent it YARP's upgrade way, timed as a stream.
    /// </summary>
    private static void IgnoreH2cUpgrade(HttpContext context)
    {
        context.Features.Set<IHttpUpgradeFeature>(null);
        context.Request.Headers.Upgrade = default;
        context.Request.Headers.Remove("HTTP2-Settings");
    }

    /// <summary>
    /// An HTTP/1.x upgrade (<see cref="AsksForUpgrade"/>) to other than a WebSocket or h2c: stripped of its
    /// Upgrade, it was forwarded as a plain request, the client still waiting for a 101. Only WebSockets are upgraded here,
    /// as under Envoy with upgrade_configs for websocket alone (which compares the whole Upgrade value), and Envoy answers
    /// an upgrade its route does not enable 403 (upgrade_failed), closing the connection lest upgrade bytes be read as the
    /// next request; so does the proxy.
    /// </summary>
    private async Task RefuseUpgradeAsync(HttpContext context, string upgrade)
    {
        var request = context.Request;
        var printable = Http1ResponseHead.Printable(upgrade);
        LogUpgradeRefused(_log, printable, request.Method, Http1ResponseHead.Printable(request.Path.Value ?? ""));
        var (replyHeaders, body) = LocalReply.Build(request, LocalReply.UpgradeFailed(printable));
        await LocalReply.WriteAsync(context, replyHeaders, body).ConfigureAwait(false);
    }

    private static readonly object ResetCounted = new();

    /// <summary>
    /// A plugin reset the stream: it closed it (proxy_close_stream), inside a callback or from outside one, or replied once
    /// the response had started (<see cref="Exchange.ResetByPlugin"/>).
    /// </summary>
    private static bool ClosedByPlugin(HttpContext context) => context.Features.Get<Exchange>() is { ResetByPlugin: true };

    /// <summary>
    /// Counts the request as a downstream reset (Envoy's DC) once, whichever step saw the client go; not a stream a plugin
    /// closed, whose connection the proxy itself aborted (what failed on it after is that abort).
    /// </summary>
    private void CountDownstreamReset(HttpContext context)
    {
        if (!ClosedByPlugin(context) && context.Items.TryAdd(ResetCounted, null))
        {
            _metrics.DownstreamResets.Inc();
        }
    }

    /// <summary>
    /// Whether <paramref name="ex"/> is the client going away: a cancellation or I/O failure once the request was aborted,
    /// Kestrel's connection reset, or its "unexpected end of request content" (the connection ended mid-body; either can
    /// surface before RequestAborted fires).
    /// </summary>
    private static bool ClientWentAway(HttpContext context, Exception ex) =>
        ClientReset.Caused(ex) ||
        ex is BadHttpRequestException && ex.Message.StartsWith("Unexpected end of request content", StringComparison.Ordinal) ||
        (context.RequestAborted.IsCancellationRequested && ex is OperationCanceledException or IOException);

    /// <param name="context">The request.</param>
    /// <param name="grpc">A gRPC call (<see cref="LocalReply.IsGrpc"/>).</param>
    /// <param name="requestId">An <c>x-request-id</c> to add (generated; the request has none), or null.</param>
    /// <param name="exchange">The request's plugin exchange (also its feature), or null without plugins: passed, not looked up per request.</param>
    [AsyncMethodBuilder(typeof(ThreadPoolingValueTaskMethodBuilder))]
    private async ValueTask ForwardAsync(HttpContext context, bool grpc, Guid? requestId, Exchange? exchange)
    {
        var cluster = ClusterFor(context.Request.Path);
        if (exchange is not null)
        {
            exchange.Upstream = (cluster, _options.Clusters[cluster]);
        }

        if (!grpc && Http1Forwarder.CanForward(context) && _fastUpstreams.GetValueOrDefault(cluster) is { } upstream)
        {
            var outcome = await _fast.ForwardAsync(context, upstream, exchange, requestId).ConfigureAwait(false);
            if (outcome.Result is ForwardResult.MalformedRequest)
            {
                // The client's fields, vetted as they were written: nothing went upstream.
                await RefuseMalformedAsync(context, outcome.Detail!).ConfigureAwait(false);
                return;
            }

            // A plugin that answered or closed while the body streamed cut the forwarding short: not an upstream failure.
            if (outcome.Result is not ForwardResult.Ok && exchange is not { IsStopped: true })
            {
                exchange?.ForwardFailed(outcome.Result, outcome.Detail);
                var reply = LocalReply.ForUpstreamFailure(outcome.Result);
                if (CountFailure(context, outcome.Result, outcome.Detail, reply))
                {
                    await ReplyToFailureAsync(context, exchange, reply).ConfigureAwait(false);
                }
            }

            return;
        }

        if (exchange is null && MalformedHttp1Fields(context.Request) is { } malformed)
        {
            await RefuseMalformedAsync(context, malformed).ConfigureAwait(false);
            return;
        }

        if (requestId is { } id)
        {
            context.Request.Headers[RequestIds.Header] = id.ToString();
        }

        if (exchange is not null && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: true })
        {
            // The plugins began reading the body, so the limit can no longer change; it is off server-wide anyway
            // (MaxRequestBodySize = null). Without the feature YARP does not try, and logs no warning per gRPC call.
            context.Features.Set<IHttpMaxRequestBodySizeFeature>(null);
        }

        var stream = !grpc && IsStream(context);
        var (invoker, config) = grpc ? (exchange is null ? (_invoker, _http2) : (_observedGrpcInvoker, _http2TimedByExchange))
            : stream ? (_upgradeInvoker, exchange is null ? _http11Stream : _http11StreamTimedByExchange) : (_invoker, exchange is null ? _http11 : _http11TimedByExchange);
        // An upgrade is timed by UpgradeResponseTimeout, then by _http11Stream's activity timeout; through plugins its
        // token is one a stop cancels, which may come while the upstream has not answered yet, and after the 101 the
        // exchange's stream idle timer (Exchange.TimeUpgradedStream).
        var timer = exchange is null ? default : grpc ? exchange.StreamIdleToken : stream ? exchange.StopToken() : exchange.TimeUpstream();
        // Without plugins, whether the client left is asked after YARP may have aborted the client's stream itself.
        var witness = exchange is null ? AbortWitness.Watch(context) : null;
        var error = await _forwarder.SendAsync(context, _prefixes[cluster], invoker, config, PluginTransformer.Instance, timer).ConfigureAwait(false);
        exchange?.RelayException?.Throw();
        if ((error != ForwarderError.None || exchange?.RelayFailure is not null) && exchange is { UpstreamTimedOut: true, IsStopped: false })
        {
            // The exchange's upstream timer: no byte moved either way for the upstream timeout. Envoy's 504 if the
            // response has not started; a response under way was reset when its body copy was cancelled.
            var detail = $"no byte moved either way for {_options.UpstreamTimeout.TotalSeconds} s";
            exchange.ForwardFailed(ForwardResult.Timeout, detail);
            var reply = LocalReply.ForUpstreamFailure(ForwardResult.Timeout);
            CountFailure(context, ForwardResult.Timeout, detail, reply);
            await ReplyToFailureAsync(context, exchange, reply).ConfigureAwait(false);
            return;
        }
        if ((error != ForwarderError.None || exchange?.RelayFailure is not null) && exchange is { StreamIdleTimedOut: true, IsStopped: false })
        {
            // Cancelled by the exchange's stream idle timer, not a failure of either side.
            exchange.EndOnStreamIdleTimeout();
            await EndIdleStreamAsync(context, exchange).ConfigureAwait(false);
            return;
        }

        if (error is ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient or ForwarderError.RequestBodyDestination &&
            context.Items.ContainsKey(PluginTransformer.ResponseRelayed) && !context.RequestAborted.IsCancellationRequested && exchange?.RelayFailure is null)
        {
            // The whole response went out while the client's body still streamed: the upstream answered without reading the
            // rest (a gRPC server failing a call at once, a trailers-only reply), so HttpClient stopped sending it and the
            // copy from the client ended. The client has its response; Kestrel resets the rest of its upload (RST_STREAM
            // NO_ERROR), as Envoy does. It was counted and logged as an upstream failure, or as the client's reset: a third of
            // such calls under load.
            return;
        }

        if (error == ForwarderError.None && exchange?.RelayFailure is { } failure)
        {
            // The plugins' response body copy failed once under way (YARP saw no error: its transform took the body over).
            exchange.ForwardFailed(failure.Result, failure.Detail);
            CountFailure(context, failure.Result, failure.Detail, reply: null);
            return;
        }

        if (grpc && exchange is null && IdleBeforeAnswer(context, error, context.Features.Get<IForwarderErrorFeature>()?.Exception) is { } requestComplete)
        {
            // Neither side failed: Envoy ends the call with its stream_idle_timeout local reply, 504 "stream timeout" once
            // the client sent all it had, else 408 (to a gRPC client, grpc-status 14 or 2).
            CountStreamIdleTimeout(context, requestComplete ? "answered 504 stream timeout" : "answered 408 stream timeout");
            await ReplyToFailureAsync(context, null, LocalReply.ForStreamIdleTimeout(requestComplete)).ConfigureAwait(false);
            return;
        }

        if (error == ForwarderError.UpgradeActivityTimeout || (error != ForwarderError.None && exchange is { UpgradedStreamIdleTimedOut: true, IsStopped: false }))
        {
            // A WebSocket quiet for the stream idle timeout: ended as Envoy ends it, not an upstream failure.
            exchange?.SetResponseFlag(ResponseFlags.StreamIdleTimeout);
            CountStreamIdleTimeout(context, "upgraded stream closed");
            return;
        }

        if (exchange is null && error is ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyDestination &&
            witness?.ClientGone == false &&
            ExceptionChain.Find<OperationCanceledException>(context.Features.Get<IForwarderErrorFeature>()?.Exception) is not null)
        {
            // YARP's activity timer ended the copy of a response body that stopped moving (or never started: the head goes
            // out with the first bytes). Once the response started YARP reset the stream; before, Envoy's local reply goes
            // instead of YARP's bare 502. It read as the upstream's connection ending (UC, "the operation was canceled").
            var started = context.Response.HasStarted;
            if (stream || grpc)
            {
                // For a request forwarded as an upgrade (an answer that was no 101) and a gRPC call, that timer is the
                // stream idle timeout: Envoy's stream_idle_timeout (504 "stream timeout", the request being whole).
                CountStreamIdleTimeout(context, started ? "stream reset" : "answered 504 stream timeout");
                if (!started)
                {
                    await ReplyToFailureAsync(context, null, LocalReply.ForStreamIdleTimeout(requestComplete: true)).ConfigureAwait(false);
                }
            }
            else
            {
                // Otherwise it is the upstream timeout: UT, said as the HTTP/1.1 forwarder says it, and its 504.
                var reply = started ? null : LocalReply.ForUpstreamFailure(ForwardResult.Timeout);
                if (CountFailure(context, ForwardResult.Timeout, $"no progress within {_options.UpstreamTimeout.TotalSeconds} s in the middle of the response", reply) && reply is not null)
                {
                    await ReplyToFailureAsync(context, null, reply).ConfigureAwait(false);
                }
            }

            return;
        }

        if (error != ForwarderError.None && exchange is not { IsStopped: true })
        {
            var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
            // RequestCanceled is YARP's word for the client's own cancellation before the response: HttpClient wraps the
            // socket error of the request it aborted, which must not read as the upstream's.
            var clients = error == ForwarderError.RequestCanceled || (IsClients(error) && !FromUpstream(exception) && !CancelledForUpstream(context, exception));
            if (clients && RequestBodyTimedOut(context, error, exception))
            {
                // YARP's activity timer (the upstream timeout) ended the copy of the client's body while it waited on the
                // client: YARP answers 408 itself, as Envoy answers a request whose body stalls. The client neither reset
                // nor left, and the 408 is counted as the response it is; logged here, as YARP's own line is not.
                var request = context.Request;
                LogRequestBodyTimeout(_log, request.Method, request.Path.Value ?? "", _options.UpstreamTimeout.TotalSeconds);
                return;
            }

            var result = clients ? ForwardResult.ClientAborted : error switch
            {
                // HttpClient's ConnectTimeout reads to YARP as a request that timed out, or failed: UF either way, as in Envoy.
                ForwarderError.Request or ForwarderError.RequestTimedOut when IsConnectTimeout(exception) => ForwardResult.ConnectTimedOut,
                // The upstream reset the stream before answering, every time HttpClient sent it (a refused stream is sent
                // again, ReplayableRequestContent): the connection was made.
                ForwarderError.Request when FromUpstream(exception) => ForwardResult.RequestFailed,
                ForwarderError.Request => ForwardResult.ConnectFailed,
                ForwarderError.RequestTimedOut => ForwardResult.Timeout,
                ForwarderError.ResponseHeaders => ForwardResult.InvalidResponse,
                _ => context.Response.HasStarted ? ForwardResult.ResponseAborted : ForwardResult.RequestFailed,
            };
            // The aggregate's own text ("one or more errors occurred") says nothing; a reset before the response headers is
            // said as such, with its HTTP/2 code when HttpClient gave it (a refused stream: after its last retry).
            var cancelledForUpstream = !clients && CancelledForUpstream(context, exception);
            var beforeHeaders = error == ForwarderError.Request || cancelledForUpstream;
            var protocol = beforeHeaders ? ExceptionChain.FindAmong<HttpProtocolException>(exception) : null;
            var ended = beforeHeaders && protocol is null && ExceptionChain.FindAmong<HttpIOException>(exception) is { HttpRequestError: HttpRequestError.ResponseEnded } io
                ? io
                : null;
            var detail = clients ? exception?.Message
                // NO_ERROR is no reset: the connection closed (a GOAWAY) with the call on it, unanswered or never sent; or it
                // just ended.
                : protocol is { ErrorCode: 0 } ? $"the upstream closed the connection before the response headers: {protocol.Message}"
                : ended is not null ? $"the upstream closed the connection before the response headers: {ended.Message}"
                : protocol is not null ? $"the upstream reset the stream before its response headers: {protocol.Message}"
                : cancelledForUpstream ? "the upstream reset the stream before its response headers"
                : exception?.Message;
            exchange?.ForwardFailed(result, detail);
            // Envoy's reply for the failures it answers itself; otherwise YARP's own status stands (a body cut off
            // after the response started, say).
            var reply = result is ForwardResult.ConnectFailed or ForwardResult.ConnectTimedOut or ForwardResult.RequestFailed or ForwardResult.Timeout or ForwardResult.InvalidResponse
                ? LocalReply.ForUpstreamFailure(result)
                : null;
            if (!CountFailure(context, result, detail, reply))
            {
                if (ClientReset.Caused(exception) && !context.Response.HasStarted)
                {
                    // YARP's 400 for the client's failed body would go to nobody.
                    ClientReset.Abort(context);
                }

                return;
            }

            await ReplyToFailureAsync(context, exchange, reply).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// True (and the exchange stopped with a 500) when the plugins rerouted the request (a <c>:path</c> edit matching
    /// another route) to a cluster on another port whose plugins did not run: <c>match.ports</c> selected the chain
    /// for the port the request first went to, and a rewrite must not take it past the plugins of the port it now
    /// goes to (an authorizer selected for the admin port, say). In Istio a rewrite cannot leave its inbound port.
    /// LOG_ONLY plugins enforce nothing and are not counted.
    /// </summary>
    private bool RefuseRerouteSkippingPlugins(HttpContext context, Chain.PluginChain chain, int port, Chain.ChainEntry[] ran, Exchange exchange)
    {
        var now = DestinationPort(context.Request.Path);
        if (now == port)
        {
            return false;
        }

        var skipped = chain.For(now).Where(e => !e.LogOnly && Array.IndexOf(ran, e) < 0).Select(e => e.Spec.Key).ToArray();
        if (skipped.Length == 0)
        {
            return false;
        }

        LogRerouteSkipsPlugins(_log, context.Request.Path.Value ?? "", port, ClusterFor(context.Request.Path), now, string.Join(", ", skipped));
        exchange.StopWith(LocalReply.ReroutedPastPlugins());
        return true;
    }

    /// <summary>
    /// An upgrade (a WebSocket over HTTP/1.1) or a CONNECT (a WebSocket over HTTP/2, extended CONNECT): once answered, a
    /// stream both ends use as they like, ended by the stream idle timeout as in Envoy.
    /// </summary>
    private static bool IsStream(HttpContext context) =>
        context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true || HttpMethods.IsConnect(context.Request.Method) ||
        context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true };

    /// <summary>
    /// Whether YARP's activity timer ended a call before its answer began, and if so whether the client had sent the
    /// whole request (null: the timer did not end it). A gRPC call without plugins is timed by that timer, set to the
    /// stream idle timeout (<c>_http2</c>). YARP reports it as RequestTimedOut, or, when the request body copy saw the
    /// cancellation first, as a request-body error with its own 408 status (the client's own failures get 400 or 502).
    /// Which of the two it reports is a race, so the request's completeness is read off the body itself: its trailers
    /// are available once it was read to its end.
    /// </summary>
    private static bool? IdleBeforeAnswer(HttpContext context, ForwarderError error, Exception? exception)
    {
        var idle = !context.Response.HasStarted && ((error == ForwarderError.RequestTimedOut && !IsConnectTimeout(exception)) ||
            error is ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient && context.Response.StatusCode == StatusCodes.Status408RequestTimeout);
        return idle ? context.Features.Get<IHttpRequestTrailersFeature>()?.Available == true : null;
    }

    /// <summary>
    /// Counts a forwarding failure as Envoy's response flags tell them apart: the client's (it reset the stream or went
    /// away: DC) apart from the upstream's (UF, UC, UPE, UT), which is logged in one line with the request, its route and
    /// cluster, what failed and what the client got. False for the client's: nothing to reply to.
    /// </summary>
    /// <param name="reply">The reply the failure is about to get, or null for the status already set (YARP's).</param>
    private bool CountFailure(HttpContext context, ForwardResult result, string? detail, ProxyWasm.Host.LocalResponse? reply)
    {
        if (result == ForwardResult.ClientAborted)
        {
            CountDownstreamReset(context);
            return false;
        }

        _metrics.UpstreamErrors.Inc();
        var request = context.Request;
        var route = RouteFor(request.Path);
        var outcome = context.Response.HasStarted ? "the response had started, so its stream was reset"
            : context.RequestAborted.IsCancellationRequested ? "the client had gone"
            : $"answered {reply?.StatusCode ?? context.Response.StatusCode}";
        var cluster = ClusterFor(request.Path);
        LogUpstreamError(_log, request.Method, request.Path.Value ?? "", route?.PathPrefix ?? "default", cluster, _options.Clusters[cluster].Authority,
            Describe(result), string.IsNullOrEmpty(detail) ? "" : $": {detail}", outcome);
        return true;
    }

    /// <summary>HttpClient's ConnectTimeout ended the connect (a TimeoutException somewhere under the failure).</summary>
    private static bool IsConnectTimeout(Exception? exception) => ExceptionChain.Find<TimeoutException>(exception) is not null;

    /// <summary>What went wrong, in the words of Envoy's response flag for it (the flag follows, as its access log shows it).</summary>
    private static string Describe(ForwardResult result) => result switch
    {
        ForwardResult.ConnectFailed => "upstream connection failure (UF)",
        ForwardResult.ConnectTimedOut => "upstream connection timeout (UF)",
        ForwardResult.RequestFailed => "upstream connection ended before the response (UC)",
        ForwardResult.ResponseAborted => "upstream connection ended during the response (UC)",
        ForwardResult.InvalidResponse => "invalid upstream response (UPE)",
        ForwardResult.Timeout => "upstream request timeout (UT)",
        ForwardResult.InvalidRequest => "the request as plugins left it cannot be sent",
        _ => result.ToString(),
    };

    /// <summary>
    /// YARP's errors on the client's side: it failed or cancelled (reset the stream, went away) while the request or the
    /// response streamed. Not told by RequestAborted: YARP aborts the client's stream itself after an upstream failure.
    /// YARP 2.3 reports an activity timeout while a body streams as cancelled too; only the plugin path tells it apart.
    /// </summary>
    /// <remarks>
    /// An upstream reset can also surface as the client's error: YARP aborts the client's stream, the request body
    /// copy then fails reading it, and YARP reports that (with the upstream's error beside it, see <see cref="FromUpstream"/>).
    /// </remarks>
    private static bool IsClients(ForwarderError error) => error is ForwarderError.RequestCanceled
        or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
        or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient
        or ForwarderError.UpgradeRequestCanceled or ForwarderError.UpgradeRequestClient
        or ForwarderError.UpgradeResponseCanceled or ForwarderError.UpgradeResponseClient;

    /// <summary>
    /// Whether YARP's own activity timer ended the forwarding while it read the client's body (its 408; a failure of the
    /// client's, a reset or a malformed body, gets 400 and the client going away cancels RequestAborted).
    /// </summary>
    private static bool RequestBodyTimedOut(HttpContext context, ForwarderError error, Exception? exception) =>
        error is ForwarderError.RequestBodyClient or ForwarderError.RequestBodyCanceled && !context.Response.HasStarted &&
        context.Response.StatusCode == StatusCodes.Status408RequestTimeout && !context.RequestAborted.IsCancellationRequested &&
        !ClientReset.Caused(exception);

    /// <summary>
    /// True when the client's part of a failure reported as the client's body error is only a cancellation the client did
    /// not make (its request is not aborted), beside the request's own failure: HttpClient cancelled the copy of the
    /// client's body because the upstream refused or reset the stream before answering (an RST_STREAM, REFUSED_STREAM
    /// from a server at its stream limit, say, once HttpClient's retries ran out, or when the body could not be sent again). A client
    /// that reset or left aborts its request; a malformed body fails the read with an error of its own.
    /// </summary>
    private static bool CancelledForUpstream(HttpContext context, Exception? exception) =>
        !context.RequestAborted.IsCancellationRequested && exception is AggregateException aggregate &&
        aggregate.InnerExceptions.Any(e => e is HttpRequestException) &&
        aggregate.InnerExceptions.All(e => e is HttpRequestException or OperationCanceledException);

    /// <summary>True when HttpClient's own I/O error (the upstream's side: reset, protocol error, closed early) is among <paramref name="exception"/>'s.</summary>
    private static bool FromUpstream(Exception? exception) =>
        // Not HttpRequestException: HttpClient also wraps the client's failing body ("error while copying content") in one.
        ExceptionChain.FindAmong<HttpIOException>(exception) is not null;

    /// <summary>
    /// A forwarding failure before any of the response went out gets Envoy's local reply (503 connect
    /// error, 504 timeout, 502 protocol error), through the plugins' response callbacks when there are any.
    /// </summary>
    private static async Task ReplyToFailureAsync(HttpContext context, Exchange? exchange, ProxyWasm.Host.LocalResponse? reply)
    {
        if (reply is null || context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        if (exchange is not null)
        {
            exchange.StopWith(reply);
            await exchange.WriteReplyAsync().ConfigureAwait(false);
            return;
        }

        var (headers, body) = LocalReply.Build(context.Request, reply);
        await LocalReply.WriteAsync(context, headers, body).ConfigureAwait(false);
    }

    /// <summary>
    /// A gRPC call through plugins that the stream idle timeout ended (<see cref="Exchange.EndOnStreamIdleTimeout"/>):
    /// counted, logged, and answered with Envoy's local reply through the plugins' response callbacks, unless the response
    /// started (YARP or the plugins' response copy reset the stream then).
    /// </summary>
    private async Task EndIdleStreamAsync(HttpContext context, Exchange exchange)
    {
        if (context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
        {
            CountStreamIdleTimeout(context, "stream reset");
            return;
        }

        CountStreamIdleTimeout(context, exchange.Reply is { StatusCode: 504 } ? "answered 504 stream timeout" : "answered 408 stream timeout");
        await exchange.WriteReplyAsync().ConfigureAwait(false);
    }

    /// <summary>Counts a stream the stream idle timeout ended and logs it with its route and cluster (<paramref name="ended"/>: what became of it).</summary>
    private void CountStreamIdleTimeout(HttpContext context, string ended)
    {
        _metrics.StreamIdleTimeouts.Inc();
        var request = context.Request;
        var route = RouteFor(request.Path);
        LogStreamIdleTimeout(_log, request.Method, request.Path.Value ?? "", route?.PathPrefix ?? "default", route?.Cluster ?? ProxyOptions.DefaultCluster,
            _options.StreamIdleTimeout.TotalSeconds, ended);
    }

    private int DestinationPort(PathString path) =>
        _options.Routes.Count == 0 ? _defaultPort : _options.Clusters[ClusterFor(path)].Port;

    private string ClusterFor(PathString path) => _options.ClusterFor(path);

    private RouteOption? RouteFor(PathString path) => _options.RouteFor(path);

    public void Dispose()
    {
        _fast.Dispose();
        _upgradeInvoker.Dispose();
        _observedGrpcInvoker.Dispose();
        _invoker.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "wasm_reroute_skips_plugins: plugins rerouted {Path} from port {From} to cluster {Cluster} (port {To}), whose plugins {Skipped} did not run; answered 500, nothing sent upstream")]
    private static partial void LogRerouteSkipsPlugins(ILogger logger, string path, int from, string cluster, int to, string skipped);

    [LoggerMessage(Level = LogLevel.Information, Message = "CONNECT {Target}: CONNECT is not supported here, no route accepts it (Envoy's NR, route_not_found); answered 404 and closed the connection, nothing sent upstream")]
    private static partial void LogConnectRefused(ILogger logger, string target);

    [LoggerMessage(Level = LogLevel.Information, Message = "upgrade '{Upgrade}' refused: {Method} {Path} asks for an upgrade other than websocket, the only one enabled here (Envoy's upgrade_failed); answered 403 and closed the connection, nothing sent upstream")]
    private static partial void LogUpgradeRefused(ILogger logger, string upgrade, string method, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "unexpected failure: {Method} {Path}: {Type}: {Error}; {Outcome}")]
    private static partial void LogUnexpectedFailure(ILogger logger, string method, string path, string type, string error, string outcome, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "request body timeout: {Method} {Path}: no byte moved either way for {Seconds} s while the client's body was read; answered 408")]
    private static partial void LogRequestBodyTimeout(ILogger logger, string method, string path, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "forwarding failed: {Method} {Path} (route {Route}, cluster {Cluster} at {Address}): {Failure}{Detail}; {Outcome}")]
    private static partial void LogUpstreamError(ILogger logger, string method, string path, string route, string cluster, string address, string failure, string detail, string outcome);

    [LoggerMessage(Level = LogLevel.Information, Message = "stream idle timeout: {Method} {Path} (route {Route}, cluster {Cluster}) moved no byte either way for {Seconds} s; {Ended}")]
    private static partial void LogStreamIdleTimeout(ILogger logger, string method, string path, string route, string cluster, double seconds, string ended);
}
