using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Metrics;
using WasmOperator.Modules.Oci;

namespace WasmOperator.Modules.Http;

/// <summary>
/// Per-host circuit breaker (Envoy's outlier detection for registries): a host whose attempts keep failing with
/// transport errors, timeouts or 5xx is opened for a cooldown, during which its fetches fail at once instead of holding
/// a reconcile worker through every retry and response timeout. After the cooldown one attempt probes it (half-open);
/// an answer closes it, another failure opens it again for twice as long, up to the maximum. Answers such as 401, 403
/// and 404 are the host working, not failing.
/// </summary>
internal sealed class RegistryCircuitBreaker(ModuleFetcherOptions options, FetcherMetrics? metrics, ILogger logger)
{
    private readonly ConcurrentDictionary<string, HostState> _hosts = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The breaker's key for a module URL: the registry (OCI) or the host:port (http/https).</summary>
    public static string HostOf(string url)
    {
        if ((url.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            && Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return uri.Authority;
        }

        return OciReference.TryParse(url, out var reference, out _) && reference is not null ? reference.Registry : url;
    }

    /// <summary>
    /// Lets an attempt on <paramref name="host"/> go ahead, or throws <see cref="RegistryUnavailableException"/> when the
    /// host is open (or its one probe is out). True when this attempt is the half-open probe.
    /// </summary>
    public bool Enter(string url, string host)
    {
        if (!_hosts.TryGetValue(host, out var state))
        {
            return false;
        }

        var now = options.TimeProvider.GetUtcNow();
        lock (state)
        {
            if (state.OpenUntil is not { } until)
            {
                return false;
            }

            if (now >= until && !state.Probing)
            {
                state.Probing = true;
                return true;
            }

            // While the probe is out, the others wait about as long as the probe may take to be answered.
            var retryAt = now >= until ? now + options.ResponseHeadersTimeout : until;
            metrics?.CircuitFastFailures.WithLabels(host).Inc();
            throw new RegistryUnavailableException(url, host, state.FailingSince, state.LastError, retryAt, now);
        }
    }

    /// <summary>The host answered (whatever the status): it is closed.</summary>
    public void Answered(string host)
    {
        if (!_hosts.TryGetValue(host, out var state))
        {
            return;
        }

        lock (state)
        {
            var wasOpen = state.OpenUntil is not null;
            state.Failures = 0;
            state.OpenUntil = null;
            state.Probing = false;
            state.Cooldown = TimeSpan.Zero;
            if (wasOpen)
            {
                metrics?.CircuitOpen.WithLabels(host).Set(0);
                Log.CircuitClosed(logger, host, state.FailingSince);
            }
        }

        // A host that answers is forgotten; a concurrent failure may add it again, which is what happened.
        _hosts.TryRemove(new KeyValuePair<string, HostState>(host, state));
    }

    /// <summary>The attempt ended without telling whether the host works (cancelled, refused locally): a probe may go again.</summary>
    public void Released(string host, bool probe)
    {
        if (probe && _hosts.TryGetValue(host, out var state))
        {
            lock (state)
            {
                state.Probing = false;
            }
        }
    }

    /// <summary>
    /// An attempt failed with a transport error, a timeout or a 5xx; <paramref name="exhausted"/> when it was the last
    /// of a fetch's retries. Opens the host at the threshold, or at once when it was the probe or the last retry.
    /// </summary>
    public void Failed(string host, bool probe, bool exhausted, Exception error)
    {
        var now = options.TimeProvider.GetUtcNow();
        var state = _hosts.GetOrAdd(host, _ => new HostState());
        lock (state)
        {
            if (state.Failures++ == 0)
            {
                state.FailingSince = now;
            }

            state.LastError = Describe(error);
            if (state.OpenUntil is null)
            {
                if (state.Failures >= options.CircuitBreakerFailures || exhausted)
                {
                    state.Cooldown = options.CircuitBreakerCooldown;
                    state.OpenUntil = now + state.Cooldown;
                    metrics?.CircuitOpen.WithLabels(host).Set(1);
                    Log.CircuitOpened(logger, host, state.Failures, state.FailingSince, state.LastError, state.OpenUntil.Value);
                }
            }
            else if (probe)
            {
                var doubled = state.Cooldown * 2;
                state.Cooldown = doubled < options.CircuitBreakerMaxCooldown ? doubled : options.CircuitBreakerMaxCooldown;
                state.OpenUntil = now + state.Cooldown;
                state.Probing = false;
                Log.CircuitStillOpen(logger, host, state.LastError, state.OpenUntil.Value);
            }
        }
    }

    private static string Describe(Exception error) => error switch
    {
        HttpRequestException { InnerException: { } inner } http => $"{http.Message} {inner.Message}",
        _ => error.Message,
    };

    private sealed class HostState
    {
        public int Failures;
        public DateTimeOffset FailingSince;
        public string LastError = string.Empty;
        public DateTimeOffset? OpenUntil;
        public TimeSpan Cooldown;
        public bool Probing;
    }
}
