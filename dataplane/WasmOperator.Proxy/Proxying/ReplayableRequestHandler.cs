namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// Gives an HTTP/2 request YARP forwards a body HttpClient can send again (<see cref="ReplayableRequestContent"/>), so that
/// its retry of a stream the upstream refused, or of one past a GOAWAY, succeeds. Here, not in a YARP transform: YARP refuses
/// a transform that replaces its request content, and goes on tracking its own content (its copy, run by the new one).
/// </summary>
/// <param name="retried">Called when HttpClient sends a request again.</param>
internal sealed class ReplayableRequestHandler(HttpMessageHandler inner, Action retried) : DelegatingHandler(inner)
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Version.Major != 2 || request.Content is null)
        {
            return base.SendAsync(request, cancellationToken);
        }

        var content = new ReplayableRequestContent(request.Content, retried);
        request.Content = content;
        return SendReplayableAsync(request, content, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendReplayableAsync(HttpRequestMessage request, ReplayableRequestContent content, CancellationToken cancellationToken)
    {
        try
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // A response began, or HttpClient gave up: either way it sends the request no more.
            content.Settle();
        }
    }
}
