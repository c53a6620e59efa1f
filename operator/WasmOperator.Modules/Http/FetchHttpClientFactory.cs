using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace WasmOperator.Modules.Http;

/// <summary>Builds the one HttpClient of a fetcher: no automatic redirects, SSRF-guarded connects, extra trusted roots.</summary>
internal static class FetchHttpClientFactory
{
    public static HttpClient Create(ModuleFetcherOptions options, AddressGuard guard)
    {
        var handler = new SocketsHttpHandler
        {
            // Redirects are followed by hand so credentials are never forwarded to another host.
            AllowAutoRedirect = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = options.ResponseHeadersTimeout,
            ConnectCallback = guard.ConnectAsync,
            UseCookies = false,
        };
        if (options.TrustedCertificates is { Count: > 0 } trusted)
        {
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                    Validate(certificate, chain, errors, trusted),
            };
        }

        // Buffered answers (manifests, tokens) stay small; module blobs are streamed and capped separately.
        var client = new HttpClient(new ResponseTimeoutHandler(handler, options.ResponseHeadersTimeout, options.BodyIdleTimeout), disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = 4 * 1024 * 1024,
        };
        client.DefaultRequestHeaders.UserAgent.ParseAdd(options.UserAgent);
        return client;
    }

    private static bool Validate(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, X509Certificate2Collection trusted)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.CustomTrustStore.AddRange(trusted);
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        using var leaf = new X509Certificate2(certificate);
        return custom.Build(leaf);
    }
}
