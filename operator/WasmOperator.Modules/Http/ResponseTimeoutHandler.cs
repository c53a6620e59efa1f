namespace WasmOperator.Modules.Http;

/// <summary>
/// Bounds the two ways a server can stall a request without bounding how long a body may take: the time until the
/// response head arrives (connect included), and the longest pause between two reads of the body. A registry that
/// accepts the connection and never answers fails an attempt quickly, while a big module on a slow link still finishes.
/// </summary>
internal sealed class ResponseTimeoutHandler(HttpMessageHandler inner, TimeSpan headersTimeout, TimeSpan bodyIdleTimeout)
    : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(headersTimeout);
        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeout.IsCancellationRequested)
        {
            throw new ResponseTimeoutException(Where(request), $"did not answer within {Describe(headersTimeout)}", ex);
        }
        catch (HttpRequestException ex)
        {
            // Which host failed: a redirect target or a token realm may be another than the registry fetched from.
            RegistryCircuitBreaker.MarkFailedHost(ex, request.RequestUri);
            throw;
        }

        response.Content = new IdleTimeoutContent(response.Content, Where(request), bodyIdleTimeout);
        return response;
    }

    internal static string Describe(TimeSpan span) =>
        span.TotalSeconds >= 1 && span.Milliseconds == 0 ? $"{span.TotalSeconds:0} s" : $"{span.TotalMilliseconds:0} ms";

    private static string Where(HttpRequestMessage request) =>
        request.RequestUri?.GetLeftPart(UriPartial.Path) ?? "the server";
}
