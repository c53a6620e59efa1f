using System.Net;
using System.Security.Authentication;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Verification;

namespace WasmOperator.Modules.Http;

/// <summary>What every source does with an HTTP answer: classify the status, check a redirect's target, save the body capped and hashed.</summary>
internal static class HttpResponses
{
    public static bool IsRedirect(HttpStatusCode status) =>
        status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther
            or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    /// <summary>How many redirects one request may follow.</summary>
    public const int MaxRedirects = 5;

    /// <summary>
    /// Where a redirect answer points. Refuses a missing Location, more than <see cref="MaxRedirects"/> hops
    /// and plain http to a host off the insecure allowlist.
    /// </summary>
    public static Uri NextHop(string url, Uri current, HttpResponseMessage response, int hop, HostPolicy hosts)
    {
        var location = response.Headers.Location;
        if (location is null || hop >= MaxRedirects)
        {
            throw new DownloadFailureException(url, location is null
                ? $"{current.GetLeftPart(UriPartial.Path)} answered {(int)response.StatusCode} without a Location header"
                : $"more than {MaxRedirects} redirects starting at {url}");
        }

        var next = location.IsAbsoluteUri ? location : new Uri(current, location);
        return hosts.MayUse(next)
            ? next
            : throw new DownloadFailureException(url, $"redirected to {next.GetLeftPart(UriPartial.Path)}, which is plain http on a host not on the insecure allowlist; serve it over https, or add {next.Authority} to the operator's --insecure-registries (env WASMOP_INSECURE_REGISTRIES)");
    }

    /// <summary>
    /// The error of a request to <paramref name="target"/> that failed after its retries: a refused TLS certificate is a
    /// <see cref="CertificateRejectedException"/> (it does not heal by retrying soon, and was reported as a transient
    /// download or manifest failure before); anything else is <paramref name="otherwise"/>'s error for <see cref="Describe"/>'s text.
    /// </summary>
    public static ModuleFetchException Failure(
        string url, RetryExhaustedException failure, Uri target, bool registry, Func<string, ModuleFetchException> otherwise)
    {
        // The host whose handshake failed: a redirect target may be another than the url's.
        var host = RegistryCircuitBreaker.FailedHostOf(failure) ?? target.Authority;
        var tls = Tls(failure);
        return tls is AuthenticationException { Message: var cause } && cause.Contains("certificate", StringComparison.OrdinalIgnoreCase)
            ? new CertificateRejectedException(url, host, $"{CertificateProblem(host, cause.TrimEnd('.'))} {Attempts(failure)}", failure)
            : otherwise(Describe(failure, tls, host, target, registry));
    }

    /// <summary>
    /// The message of a request to <paramref name="target"/> that failed after its retries, other than a refused
    /// certificate. A failed TLS handshake is said in plain words with what to change: .NET's own message ("The SSL
    /// connection could not be established, see inner exception.") named neither the cause nor a fix.
    /// <paramref name="registry"/>: the url is oci://, not https://.
    /// </summary>
    /// <param name="failure">The failure.</param>
    /// <param name="innermost">Its failed TLS handshake's innermost cause (<see cref="Tls"/>), or null.</param>
    /// <param name="host">The host whose handshake failed: the registry's advice does not fix a redirect target.</param>
    /// <param name="target">The request's URL.</param>
    /// <param name="registry">The url is oci://.</param>
    private static string Describe(RetryExhaustedException failure, Exception? innermost, string host, Uri target, bool registry)
    {
        if (innermost is null)
        {
            return failure.Message;
        }

        var authority = target.Authority;
        var cause = innermost.Message.TrimEnd('.');
        if (!string.Equals(host, authority, StringComparison.OrdinalIgnoreCase))
        {
            var sender = registry ? $"registry {authority}" : authority;
            return $"no TLS handshake with {host}, where {sender} sent the request on (a redirect or token service) ({cause}): "
                + $"if {host} serves plain http, {sender} must send it to an https url that serves TLS, "
                + $"or to an http:// url with {host} added to the operator's --insecure-registries (env WASMOP_INSECURE_REGISTRIES) {Attempts(failure)}";
        }

        var allow = $"add {authority} to the operator's --insecure-registries (env WASMOP_INSECURE_REGISTRIES)";
        return $"no TLS handshake with {authority} ({cause}): if it serves plain http, "
            + (registry ? allow : $"use an http:// url and {allow}") + $" {Attempts(failure)}";
    }

    /// <summary>The innermost cause of a failed TLS handshake, or null when the failure was not one.</summary>
    private static Exception? Tls(RetryExhaustedException failure)
    {
        if (failure.InnerException is not HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } tls)
        {
            return null;
        }

        Exception innermost = tls;
        while (innermost.InnerException is { } inner)
        {
            innermost = inner;
        }

        return innermost;
    }

    /// <summary>
    /// What is wrong with a refused certificate and every fix that applies: a wrong name, an untrusted or incomplete chain
    /// and an expired certificate each have their own, and one certificate can have them all.
    /// </summary>
    internal static string CertificateProblem(string authority, string cause)
    {
        var name = Uri.TryCreate($"https://{authority}", UriKind.Absolute, out var parsed) ? parsed.Host : authority;
        const string TrustStore = "the operator trusts the CAs of its container's system trust store: "
            + "add the CA that issued it there (e.g. mount a PEM bundle of it and the public CAs into the operator's pod and set the SSL_CERT_FILE environment variable to its path)";
        if (cause.Contains(nameof(System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch), StringComparison.Ordinal))
        {
            // With a wrong name .NET names the chain's errors only as RemoteCertificateChainErrors, not which.
            return cause.Contains(nameof(System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors), StringComparison.Ordinal)
                ? $"the TLS certificate of {authority} does not name {name} and is not trusted either ({cause}: an unknown CA, a missing intermediate or an expired certificate); "
                    + $"give the server a current certificate for {name} from a CA the operator trusts, served with its intermediates, or use a host name the certificate names; {TrustStore}"
                : $"the TLS certificate of {authority} does not name {name}; use a host name the certificate names, or give the server a certificate for {name}";
        }

        // .NET lists the chain's errors in the message ("...errors in the certificate chain: NotTimeValid, UntrustedRoot").
        var expired = cause.Contains("NotTimeValid", StringComparison.Ordinal);
        var partial = cause.Contains("PartialChain", StringComparison.Ordinal);
        if (expired && !partial && !cause.Contains("UntrustedRoot", StringComparison.Ordinal))
        {
            return $"the TLS certificate of {authority} has expired or is not valid yet ({cause}); renew the server's certificate (or check the clock of the operator's node)";
        }

        var also = expired ? " and has expired or is not valid yet" : string.Empty;
        var current = expired ? "a current certificate" : "a certificate";
        if (partial)
        {
            // No chain to any root: usually the server sends its leaf without the intermediates (or its root is unknown too).
            return $"the TLS certificate of {authority} is not trusted ({cause}){also}: no chain from it to a CA the operator trusts could be built; "
                + "serve the full chain (leaf + intermediates) from the server; if it already does, its root CA is not trusted: "
                + $"{TrustStore}, or give the server {current} from a CA the operator trusts";
        }

        return $"the TLS certificate of {authority} is not trusted ({cause}){also}; {TrustStore}, or give the server {current} from a CA the operator trusts";
    }

    private static string Attempts(RetryExhaustedException failure) =>
        $"(after {failure.Attempts} attempt{(failure.Attempts == 1 ? string.Empty : "s")})";

    /// <summary>5xx and 429 are worth another attempt; every other status is final.</summary>
    public static void ThrowIfTransient(HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        if (status >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            var retryAfter = response.Headers.RetryAfter?.Delta;
            // 502, 503, 504 and 429 speak for the host (TransientFetchException.HostUnwell); a 500 is usually one repository's fault.
            throw new TransientFetchException($"{response.RequestMessage?.RequestUri?.GetLeftPart(UriPartial.Path)} answered {status}", retryAfter)
            {
                Status = status,
                Host = response.RequestMessage?.RequestUri?.Authority,
            };
        }
    }

    /// <summary>
    /// The whole body, or null when it is longer than <paramref name="limit"/> bytes: read as it streams, so a body sent
    /// without a Content-Length (chunked) cannot make the caller buffer more than the limit.
    /// </summary>
    public static async Task<byte[]?> ReadAtMostAsync(HttpResponseMessage response, int limit, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength is { } length && length > limit)
        {
            return null;
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>
    /// Streams the body to <paramref name="destination"/> while hashing. More than <paramref name="limit"/> bytes (announced
    /// in Content-Length, or read) stop the read and throw <paramref name="overLimit"/>'s error for the bytes seen.
    /// </summary>
    public static async Task<HashingCopy.Outcome> SaveBodyAsync(
        HttpResponseMessage response, string destination, long limit, Func<long, Exception> overLimit, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength is { } length && length > limit)
        {
            throw overLimit(length);
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        var outcome = await HashingCopy.CopyAsync(body, destination, limit, cancellationToken);
        return outcome.LimitExceeded ? throw overLimit(outcome.Size) : outcome;
    }
}
