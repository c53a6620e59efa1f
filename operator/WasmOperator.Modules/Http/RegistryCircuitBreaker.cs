using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Metrics;
using WasmOperator.Modules.Oci;

namespace WasmOperator.Modules.Http;

/// <summary>
/// Per-host circuit breaker (Envoy's outlier detection for registries), keyed by the host:port a request is sent to, so
/// that a registry's failing blob storage or token realm fails only the fetches that need it: a host whose requests keep failing in a way
/// that says the host is unwell — transport errors, timeouts, 502, 503, 504, 429 — is ejected for a cooldown, during
/// which its fetches fail at once instead of holding a reconcile worker through every retry and response timeout.
/// Failures count only in a row across all fetches: any answer from the host resets the count, and a 500 or a blob that
/// does not hash to its digest is one repository's or blob's fault, retried but not counted. After the cooldown one
/// attempt probes it (half-open); an answer closes it, another failure ejects it again. Each ejection lasts the base
/// cooldown times the number of recent ejections, up to the maximum; that number is forgotten only once the host has
/// stayed closed for a maximum cooldown, so a host that answers one probe and fails again is not back in 30 s.
/// </summary>
internal sealed class RegistryCircuitBreaker(ModuleFetcherOptions options, FetcherMetrics? metrics, ILogger logger)
{
    private const string FailedHostKey = "WasmOperator.FailedHost";
    private readonly ConcurrentDictionary<string, HostState> _hosts = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Where a module URL's fetches start: the registry (OCI) or the host:port (http/https), named in messages.</summary>
    public static string HostOf(string url)
    {
        if (ModuleUrls.IsHttp(url) && Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return uri.Authority;
        }

        return OciReference.TryParse(url, out var reference, out _) && reference is not null ? reference.Registry : url;
    }

    /// <summary>
    /// Lets a request to <paramref name="host"/> (host:port) go ahead, or throws <see cref="RegistryUnavailableException"/>
    /// when the host is open (or its one probe is out). True when this request is the half-open probe.
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
                state.ProbeSince = now;
                return true;
            }

            // While the probe is out, the others wait about as long as the probe may take to be answered; counted from
            // when it left, so that each refusal during one probe names the same time.
            var probeOut = now >= until;
            var retryAt = probeOut ? state.ProbeSince + options.ResponseHeadersTimeout : until;
            metrics?.CircuitFastFailures.WithLabels(host).Inc();
            // The message names the URL's registry and, when the open host is another (its storage, a token realm), that one.
            var registry = HostOf(url);
            var failedHost = string.Equals(registry, host, StringComparison.OrdinalIgnoreCase) ? null : host;
            throw new RegistryUnavailableException(url, registry, failedHost, state.Symptom, state.Failures, state.FailingSince, state.LastError, retryAt, probeOut);
        }
    }

    /// <summary>The host answered (whatever the status): its run of failures ends and it is closed.</summary>
    public void Answered(string host)
    {
        if (!_hosts.TryGetValue(host, out var state))
        {
            return;
        }

        var now = options.TimeProvider.GetUtcNow();
        bool forget;
        lock (state)
        {
            var wasOpen = state.OpenUntil is not null;
            state.Failures = 0;
            state.OpenUntil = null;
            state.Probing = false;
            if (wasOpen)
            {
                state.ClosedAt = now;
                metrics?.CircuitOpen.WithLabels(host).Set(0);
                Log.CircuitClosed(logger, host, state.FailingSince);
            }

            forget = state.Ejections == 0 || EjectionsExpired(state, now);
        }

        // A concurrent failure may add it again, which is what happened.
        if (forget)
        {
            _hosts.TryRemove(new KeyValuePair<string, HostState>(host, state));
        }
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
    /// An attempt failed in a way that says the host is unwell (a transport error, a timeout, 502, 503, 504, 429).
    /// Ejects the host once <see cref="ModuleFetcherOptions.CircuitBreakerFailures"/> attempts in a row failed, or at
    /// once when it was the probe.
    /// </summary>
    public void Failed(string host, bool probe, Exception error)
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
            state.Symptom = SymptomOf(error);
            if (state.OpenUntil is null && state.Failures >= options.CircuitBreakerFailures)
            {
                var until = Eject(state, now);
                metrics?.CircuitOpen.WithLabels(host).Set(1);
                Log.CircuitOpened(logger, host, state.Failures, state.FailingSince, state.LastError, until);
            }
            else if (state.OpenUntil is not null && probe)
            {
                var until = Eject(state, now);
                state.Probing = false;
                Log.CircuitStillOpen(logger, host, state.LastError, until);
            }
        }
    }

    private DateTimeOffset Eject(HostState state, DateTimeOffset now)
    {
        if (EjectionsExpired(state, now))
        {
            state.Ejections = 0;
        }

        state.Ejections++;
        var cooldown = options.CircuitBreakerCooldown * state.Ejections;
        var until = now + (cooldown < options.CircuitBreakerMaxCooldown ? cooldown : options.CircuitBreakerMaxCooldown);
        state.OpenUntil = until;
        return until;
    }

    // The ejections are remembered until the host has stayed closed for a maximum cooldown.
    private bool EjectionsExpired(HostState state, DateTimeOffset now) =>
        state.Ejections > 0 && state.OpenUntil is null && now - state.ClosedAt >= options.CircuitBreakerMaxCooldown;

    /// <summary>What the host did, worded for the message: "answered 503", "refused the connection".</summary>
    private static string SymptomOf(Exception error)
    {
        switch (error)
        {
            case TransientFetchException { Status: { } status }:
                return $"answered {status}";
            case ResponseTimeoutException timeout:
                return timeout.Symptom;
        }

        for (var inner = error; inner is not null; inner = inner.InnerException)
        {
            switch (inner)
            {
                case ResponseTimeoutException timeout:
                    return timeout.Symptom;
                case SocketException { SocketErrorCode: SocketError.ConnectionRefused }:
                    return "refused the connection";
                case SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain }:
                    return "could not be resolved (DNS)";
                case SocketException { SocketErrorCode: SocketError.TimedOut }:
                    return "did not accept the connection in time";
            }
        }

        return "cut the connection or could not be reached";
    }

    /// <summary>Notes on a transport error which host:port it came from, for the message.</summary>
    public static void MarkFailedHost(Exception error, Uri? target)
    {
        if (target is not null)
        {
            error.Data[FailedHostKey] = target.Authority;
        }
    }

    /// <summary>The host:port the failure came from, when known: a redirect target or token realm, or the registry itself.</summary>
    public static string? FailedHostOf(Exception error)
    {
        for (var inner = error; inner is not null; inner = inner.InnerException)
        {
            switch (inner)
            {
                case TransientFetchException { Host: { } host }:
                    return host;
                case ResponseTimeoutException timeout when Uri.TryCreate(timeout.Where, UriKind.Absolute, out var where):
                    return where.Authority;
            }

            if (inner.Data[FailedHostKey] is string marked)
            {
                return marked;
            }
        }

        return null;
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
        public string Symptom = string.Empty;
        public DateTimeOffset? OpenUntil;
        public int Ejections;
        public DateTimeOffset ClosedAt;
        public bool Probing;
        public DateTimeOffset ProbeSince;
    }
}
