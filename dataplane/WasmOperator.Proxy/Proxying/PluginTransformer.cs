using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using WasmOperator.Proxy.Forwarding;
using Yarp.ReverseProxy.Forwarder;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// YARP transforms around the plugin chain: keeps the (possibly plugin-set) authority as Host and
/// hands the upstream response to the request's <see cref="Exchange"/> for the response callbacks.
/// </summary>
internal sealed class PluginTransformer : HttpTransformer
{
    public static PluginTransformer Instance { get; } = new();

    private static readonly UriCreationOptions NoCanonicalization = new() { DangerousDisablePathAndQueryCanonicalization = true };

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        var exchange = httpContext.Features.Get<Exchange>();
        if (exchange is not null && proxyRequest.Version.Major == 2)
        {
            // A gRPC call HttpClient or ReplayableRequestHandler sends again is one more attempt for the plugins.
            proxyRequest.Options.Set(ReplayableRequestHandler.Observer, exchange);
        }

        if (exchange?.PluginTarget is { } target)
        {
            // As the plugins wrote it: built from the parsed path, /a/%2e%2e/b went as /b and /a%2Fb as /a%252Fb, and
            // System.Uri's own canonicalisation decodes unreserved escapes and removes dot segments.
            proxyRequest.RequestUri = new Uri(destinationPrefix.TrimEnd('/') + target, NoCanonicalization);
        }

        proxyRequest.Headers.Host = httpContext.Request.Host.Value;
        // The proxy answers a client's 100-continue itself (Kestrel sends the 100 as the body is read), as Envoy does and as
        // the HTTP/1.1 forwarder does: forwarded, HttpClient would hold the body for the upstream's 100, and a connection the
        // upstream closed meanwhile failed the call as a cancellation (read as the stream idle timeout, grpc-status 2).
        proxyRequest.Headers.ExpectContinue = null;
        proxyRequest.Headers.Remove("Expect");
        if (!httpContext.Request.Headers.ContainsKey(Forwarding.ForwardedProto.Header))
        {
            proxyRequest.Headers.TryAddWithoutValidation(Forwarding.ForwardedProto.Header, Forwarding.ForwardedProto.Http);
        }
    }

    /// <summary>
    /// Set on a request once YARP relayed its whole response: YARP copies the trailers only after the response body went
    /// through, and reports the request body's end after that (ProxyHandler: not a failure).
    /// </summary>
    public static readonly object ResponseRelayed = new();

    public override async ValueTask TransformResponseTrailersAsync(HttpContext httpContext, HttpResponseMessage proxyResponse, CancellationToken cancellationToken)
    {
        await base.TransformResponseTrailersAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        httpContext.Items[ResponseRelayed] = null;
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse is { StatusCode: >= HttpStatusCode.OK and < HttpStatusCode.Ambiguous } &&
            httpContext.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true })
        {
            // YARP sent the extended CONNECT upstream as an HTTP/1.1 upgrade, which only a 101 accepts. A 2xx would open the
            // client's tunnel with no upgraded stream behind it (and Kestrel refuses a body on it: through plugins that was
            // a 500 with a stack trace). Thrown here, YARP reports the head as invalid: 502, logged as UPE, with plugins or
            // without.
            throw new HttpRequestException(HttpRequestError.InvalidResponse,
                $"the upstream answered the WebSocket upgrade of an extended CONNECT with {(int)proxyResponse.StatusCode}, not 101");
        }

        var copy = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        if (proxyResponse is null || httpContext.Features.Get<Exchange>() is not { } exchange)
        {
            if (copy && proxyResponse is not null && ResponseHead.GoesAhead(httpContext))
            {
                // Flushing a response that has not started sends its head.
                await httpContext.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            return copy;
        }

        if (exchange.MustLeaveIoThread)
        {
            // The upstream read completed inline on a socket thread and plugins must not run there.
            await Task.Yield();
        }

        try
        {
            var goesOn = await exchange.OnResponseAsync(proxyResponse, cancellationToken).ConfigureAwait(false);
            if (goesOn && exchange.Upgraded)
            {
                // YARP relays the upgraded stream after this: its bytes go through the plugins' body callbacks.
                await PluginUpgradedStream.RelayThroughPluginsAsync(httpContext, proxyResponse, exchange, cancellationToken).ConfigureAwait(false);
            }

            return goesOn;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException && exchange.Interrupted)
        {
            // A plugin answered or closed the stream from outside a callback as the response's head went out
            // (Exchange.StopFromOutside): its reply, or the reset, not an upstream failure.
            await exchange.WriteReplyAsync().ConfigureAwait(false);
            return false;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException && (httpContext.Response.HasStarted || httpContext.RequestAborted.IsCancellationRequested))
        {
            // The body copy failed: the client reset the stream, or the upstream did (or went idle) once the response was
            // under way. YARP would take an exception here for a bad response head and clear a response already sent.
            exchange.RelayFailure = new ForwardOutcome(httpContext.RequestAborted.IsCancellationRequested ? ForwardResult.ClientAborted : ForwardResult.ResponseAborted, ex.Message);
            httpContext.Abort();
            return false;
        }
        catch (Exception ex) when (ex is not IOException and not OperationCanceledException)
        {
            // Not the upstream's failure, as YARP would report it: the request handler ends the request on it.
            exchange.RelayException = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex);
            return false;
        }
    }
}
