namespace WasmOperator.Modules.Http;

/// <summary>
/// One attempt of a <see cref="Retrier"/>: every request it sends passes the circuit breaker of the host it goes to
/// (the registry, the storage a blob is redirected to, a token realm), and the hosts it reached are remembered so
/// that a failure counts against the host that failed, not against the registry that sent the attempt there.
/// </summary>
internal sealed class FetchAttempt(string url, RegistryCircuitBreaker breaker)
{
    // An attempt reaches one to three hosts (registry, token realm, redirect target).
    private readonly List<(string Host, bool Probe)> _entered = new(3);

    /// <summary>The host:port the attempt last sent a request to: the one a failure without a marked host came from.</summary>
    public string? LastHost { get; private set; }

    internal IReadOnlyList<(string Host, bool Probe)> Entered => _entered;

    /// <summary>Sends <paramref name="request"/> once its host's breaker lets it; throws RegistryUnavailableException when it is open.</summary>
    public Task<HttpResponseMessage> SendAsync(HttpClient http, HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        var target = request.RequestUri ?? throw new ArgumentException("the request has no URI", nameof(request));
        Enter(target.Authority);
        return http.SendAsync(request, completion, cancellationToken);
    }

    private void Enter(string host)
    {
        LastHost = host;
        foreach (var (entered, _) in _entered)
        {
            if (string.Equals(entered, host, StringComparison.OrdinalIgnoreCase))
            {
                return;
            }
        }

        var probe = breaker.Enter(url, host);
        _entered.Add((host, probe));
    }
}
