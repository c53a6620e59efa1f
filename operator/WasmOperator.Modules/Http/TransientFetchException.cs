namespace WasmOperator.Modules.Http;

/// <summary>
/// An attempt failed in a way worth retrying (5xx, 429, a cut or corrupt transfer). <see cref="HostUnwell"/> when the
/// failure says the host itself is unwell (502, 503, 504, 429), so that it counts toward the host's circuit breaker; a
/// 500 or a blob that does not hash to its digest is one repository's or blob's fault and does not.
/// </summary>
internal sealed class TransientFetchException(string message, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>The host (not one of its repositories or blobs) is failing: it counts toward the circuit breaker.</summary>
    public bool HostUnwell => Status is 502 or 503 or 504 or 429;

    /// <summary>host:port that answered, when the failure was an answer (a redirect target may be another than the registry).</summary>
    public string? Host { get; init; }

    /// <summary>The HTTP status that was answered, when the failure was one.</summary>
    public int? Status { get; init; }
}
