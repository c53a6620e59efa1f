namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// Bounds the wait for the upstream's answer to an upgrade (a WebSocket's 101) by the upstream timeout, as Envoy's
/// route timeout covers an upgrade until its response. Once answered, the stream is bounded by the stream idle timeout
/// alone: YARP's activity timeout, which for upgrades is <see cref="Configuration.ProxyOptions.StreamIdleTimeout"/>, or
/// through plugins the exchange's timer of the same length (<see cref="Exchange.TimeUpgradedStream"/>).
/// </summary>
/// <remarks>
/// HttpClient holds the token only until the response head arrived. YARP takes a cancellation that is not its own
/// for a timeout (<c>RequestTimedOut</c>), which the handler answers with Envoy's 504.
/// </remarks>
internal sealed class UpgradeResponseTimeout(TimeSpan timeout, HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var answer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        answer.CancelAfter(timeout);
        return await base.SendAsync(request, answer.Token).ConfigureAwait(false);
    }
}
