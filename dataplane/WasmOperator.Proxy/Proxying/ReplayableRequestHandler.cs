using Microsoft.Extensions.Logging;
using WasmOperator.Proxy.Forwarding;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// Gives an HTTP/2 request YARP forwards a body HttpClient can send again (<see cref="ReplayableRequestContent"/>), so that
/// its retry of a stream the upstream refused, or of one past a GOAWAY, succeeds. Here, not in a YARP transform: YARP refuses
/// a transform that replaces its request content, and goes on tracking its own content (its copy, run by the new one).
/// </summary>
/// <remarks>
/// It also sends again a request that a connection took but never sent. HttpClient gives a request a slot on a
/// connection before it writes the request's HEADERS there; if the upstream ends the connection in between (a GOAWAY, then
/// the close, as nginx does past its keepalive_requests), the HEADERS are never written and HttpClient fails the request
/// with the close's error, not as one to retry: its own retry covers the streams that went out past the GOAWAY's last
/// stream. Envoy writes a stream's headers as it takes the connection, and never fails a request this way. Seen as 1 to 4
/// failed calls in 3000 against nginx rotating its connections on a loaded machine.
/// </remarks>
/// <param name="retried">Called when a request is sent again.</param>
/// <param name="observed">
/// Requests carry their exchange (<see cref="Observer"/>), whose attempts count for the plugins; the handler of calls no
/// plugin sees leaves <see cref="HttpRequestMessage.Options"/> alone (reading it allocates).
/// </param>
/// <param name="log">Says each call sent again because a closing connection never sent it.</param>
internal sealed partial class ReplayableRequestHandler(HttpMessageHandler inner, Action retried, bool observed, ILogger log) : DelegatingHandler(inner)
{
    /// <summary>The request's exchange (set by <see cref="PluginTransformer"/> when plugins see the call): its attempts count.</summary>
    public static readonly HttpRequestOptionsKey<IUpstreamResponseObserver> Observer = new("WasmOperator.Exchange");

    /// <summary>As many sends again as HttpClient's own retry of a connection failure allows.</summary>
    private const int UnsentRetries = 3;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Version.Major != 2 || request.Content is null)
        {
            return base.SendAsync(request, cancellationToken);
        }

        var observer = observed && request.Options.TryGetValue(Observer, out var exchange) ? exchange : null;
        var content = new ReplayableRequestContent(request.Content, retried, observer);
        request.Content = content;
        return SendReplayableAsync(request, content, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendReplayableAsync(HttpRequestMessage request, ReplayableRequestContent content, CancellationToken cancellationToken)
    {
        try
        {
            for (var retries = 0; ; retries++)
            {
                try
                {
                    return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
                }
                catch (HttpRequestException ex) when (retries < UnsentRetries && NeverSent(request, content, ex, cancellationToken))
                {
                    LogUnsentRetry(log, request.Method.Method, request.RequestUri?.AbsolutePath ?? "", request.RequestUri?.Authority ?? "", retries + 1);
                    content.Retried();
                }
            }
        }
        finally
        {
            // A response began, or HttpClient gave up: either way it sends the request no more.
            content.Settle();
        }
    }

    /// <summary>
    /// The request failed with the connection it was given, closed by the upstream (after a GOAWAY with no error, or with no
    /// GOAWAY at all), before any of it was written there. Not a connection that could not be made (the upstream is down or
    /// refuses: UF, as in Envoy), nor one that broke the protocol (sending again would meet the same).
    /// </summary>
    /// <remarks>
    /// None of its body went: HttpClient begins the body as soon as it wrote the HEADERS, unless the request waits for a
    /// 100 Continue. <see cref="PluginTransformer"/> drops Expect; a request that still carries it is left alone.
    /// </remarks>
    private static bool NeverSent(HttpRequestMessage request, ReplayableRequestContent content, HttpRequestException failure, CancellationToken cancellationToken) =>
        !cancellationToken.IsCancellationRequested
        && !content.Started
        && request.Headers.ExpectContinue != true
        && ExceptionChain.Find<HttpIOException>(failure) is HttpProtocolException { ErrorCode: 0 } or { HttpRequestError: HttpRequestError.ResponseEnded };

    [LoggerMessage(Level = LogLevel.Information, Message = "upstream {Authority} closed the connection it had given {Method} {Path} before the call went out; sent again on another connection (retry {Retry})")]
    private static partial void LogUnsentRetry(ILogger logger, string method, string path, string authority, int retry);
}
