using System.Globalization;

namespace WasmOperator.Modules.Failures;

/// <summary>
/// The fetch was not tried: its registry (or host) kept failing and its circuit breaker is open until
/// <see cref="RetryAt"/>. Nothing was sent; fetches from other hosts are not held up by it.
/// </summary>
public sealed class RegistryUnavailableException : ModuleFetchException
{
    /// <summary>
    /// Creates the error; <paramref name="failedHost"/> is the host:port that failed when it is not the registry itself
    /// (the storage a blob is redirected to, a token realm), <paramref name="symptom"/> what it did ("answered 503",
    /// "refused the connection"). The message names the time of the next try, not a countdown: it stays the same for
    /// one open period, so a reconcile that finds the registry still open writes no new status or event.
    /// <paramref name="probeOut"/>: refused only because the host's one half-open probe is out; see <see cref="ProbeOut"/>.
    /// </summary>
    public RegistryUnavailableException(
        string url, string host, string? failedHost, string symptom, int failures, DateTimeOffset failingSince, string lastError, DateTimeOffset retryAt,
        bool probeOut = false)
        : base(url, $"{url}: registry {host} "
            + (failedHost is null ? symptom : $"sends its fetches on to {failedHost} (a redirect or token service), which {symptom}")
            + $": {failures} attempt{(failures == 1 ? string.Empty : "s")} in a row since {Time(failingSince)} failed, the last with: {lastError}; "
            + $"it is not tried again until {Time(retryAt)} (UTC), fetches from it fail at once until then; check that {failedHost ?? host} is up and answers")
    {
        FailedHost = failedHost;
        Host = host;
        FailingSince = failingSince;
        LastError = lastError;
        RetryAt = retryAt;
        ProbeOut = probeOut;
    }

    /// <summary>
    /// True when the cooldown is over and the fetch was refused only because another fetch is probing the host: the
    /// probe's outcome, due by <see cref="RetryAt"/>, is the news; this refusal tells nothing new about the host.
    /// </summary>
    public bool ProbeOut { get; }

    /// <summary>The registry (or host:port) that is failing.</summary>
    public string Host { get; }

    /// <summary>The host:port that failed when it is not the registry itself (a redirect target, a token realm); else null.</summary>
    public string? FailedHost { get; }

    /// <summary>When its current run of failures started.</summary>
    public DateTimeOffset FailingSince { get; }

    /// <summary>The last failure seen.</summary>
    public string LastError { get; }

    /// <summary>When the host is tried again (one probe fetch).</summary>
    public DateTimeOffset RetryAt { get; }

    /// <inheritdoc />
    public override string Result => "registry_unavailable";

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
