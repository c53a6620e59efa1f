namespace WasmOperator.Modules.Failures;

/// <summary>
/// The TLS certificate of a module's server or registry (or of the host it redirects to) was refused: not trusted,
/// expired or not for its name. Asking again soon gets the same certificate, so it is not retried like an outage and
/// does not count toward the host's circuit breaker; the message names the host and what to change.
/// </summary>
public sealed class CertificateRejectedException : ModuleFetchException
{
    /// <summary>Creates the error; <paramref name="detail"/> says what is wrong with the certificate and what to do.</summary>
    public CertificateRejectedException(string url, string host, string detail, Exception? inner = null)
        : base(url, $"{url}: {detail}", inner)
    {
        Host = host;
    }

    /// <summary>host:port whose certificate was refused.</summary>
    public string Host { get; }

    /// <inheritdoc />
    public override string Result => "certificate_rejected";
}
