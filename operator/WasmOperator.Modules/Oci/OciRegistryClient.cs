using System.Net;
using System.Net.Http.Headers;
using WasmOperator.Modules.Auth;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Http;
using WasmOperator.Modules.Verification;

namespace WasmOperator.Modules.Oci;

/// <summary>
/// The small OCI distribution client: /v2/ ping, manifests by tag or digest, blobs streamed and hashed,
/// challenges answered, redirects followed without credentials, every attempt retried when transient.
/// </summary>
internal sealed class OciRegistryClient(HttpClient http, HostPolicy hosts, RegistryAuthenticator auth, Retrier retrier, ModuleFetcherOptions options)
{
    private const int MaxManifestBytes = 4 * 1024 * 1024;

    /// <summary>GET /v2/: checks the registry speaks the distribution API and learns its auth scheme.</summary>
    public async Task PingAsync(string url, OciReference reference, CancellationToken cancellationToken)
    {
        var uri = new Uri(hosts.RegistryBase(reference.ApiHost), "v2/");
        try
        {
            await retrier.ExecuteAsync(url, async (attempt, ct) =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                using var response = await attempt.SendAsync(http, request, HttpCompletionOption.ResponseHeadersRead, ct);
                HttpResponses.ThrowIfTransient(response);
                if (response.StatusCode == HttpStatusCode.Unauthorized)
                {
                    if (AuthChallenge.From(response) is { } challenge)
                    {
                        auth.Remember(reference.ApiHost, challenge);
                    }

                    return true;
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw new ManifestFailureException(url, $"{uri} answered {(int)response.StatusCode}: the host does not serve the OCI distribution API");
                }

                return true;
            }, cancellationToken);
        }
        catch (RetryExhaustedException ex)
        {
            throw HttpResponses.Failure(url, ex, uri, registry: true, detail => new ManifestFailureException(url, $"registry {reference.Registry} is not reachable: {detail}", ex));
        }
    }

    /// <summary>Gets a manifest by tag or digest; returns its bytes, media type and the digest of the bytes.</summary>
    public async Task<(byte[] Bytes, string? ContentType, string Digest)> GetManifestAsync(
        string url, OciReference reference, string manifestReference, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        var uri = new Uri(hosts.RegistryBase(reference.ApiHost), $"v2/{reference.Repository}/manifests/{manifestReference}");
        try
        {
            return await retrier.ExecuteAsync(url, async (attempt, ct) =>
            {
                using var response = await SendAsync(attempt, url, reference, credential, uri, OciMediaTypes.ManifestAccept, ct);
                HttpResponses.ThrowIfTransient(response);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    throw new ManifestFailureException(url, $"{reference.Registry}/{reference.Repository}{(manifestReference.StartsWith(Sha256Digest.Prefix, StringComparison.Ordinal) ? '@' : ':')}{manifestReference} was not found (404; accepted {string.Join(", ", OciMediaTypes.ManifestAccept)})", notFound: true);
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw new ManifestFailureException(url, $"{uri} answered {(int)response.StatusCode}");
                }

                var bytes = await HttpResponses.ReadAtMostAsync(response, MaxManifestBytes, ct) ??
                    throw new ManifestFailureException(url, $"the manifest is larger than {MaxManifestBytes} bytes");
                var digest = Sha256Digest.Of(bytes);
                var announced = Header(response, "Docker-Content-Digest");
                if (announced is not null && announced.StartsWith(Sha256Digest.Prefix, StringComparison.Ordinal) && announced != digest)
                {
                    throw new TransientFetchException($"the manifest bytes hash to {digest} but Docker-Content-Digest says {announced}");
                }

                if (manifestReference.StartsWith(Sha256Digest.Prefix, StringComparison.Ordinal) && manifestReference != digest)
                {
                    throw new TransientFetchException($"the manifest fetched by digest {manifestReference} hashes to {digest}");
                }

                return (bytes, response.Content.Headers.ContentType?.MediaType, digest);
            }, cancellationToken);
        }
        catch (RetryExhaustedException ex)
        {
            throw HttpResponses.Failure(url, ex, uri, registry: true, detail => new ManifestFailureException(url, detail, ex));
        }
    }

    /// <summary>Streams a blob into <paramref name="destination"/>, hashing it; retries cut or corrupt transfers.</summary>
    public async Task<HashingCopy.Outcome> DownloadBlobAsync(
        string url, OciReference reference, OciDescriptor blob, RegistryCredential? credential, string destination, CancellationToken cancellationToken)
    {
        if (blob.Size > options.MaxModuleBytes)
        {
            throw options.TooLarge(url, blob.Size);
        }

        var uri = new Uri(hosts.RegistryBase(reference.ApiHost), $"v2/{reference.Repository}/blobs/{blob.Digest}");
        try
        {
            return await retrier.ExecuteAsync(url, async (attempt, ct) =>
            {
                using var response = await SendAsync(attempt, url, reference, credential, uri, null, ct);
                HttpResponses.ThrowIfTransient(response);
                if (!response.IsSuccessStatusCode)
                {
                    throw new DownloadFailureException(url, $"blob {blob.Digest} of {reference.Registry}/{reference.Repository}: {(int)response.StatusCode}");
                }

                // The read stops at the size the manifest declares: more bytes cannot hash to the digest, so they are never read
                // (a blob listed without a size, against the OCI spec, is held to the module limit only).
                var outcome = blob.Size >= 0
                    ? await HttpResponses.SaveBodyAsync(response, destination, blob.Size, size => new DownloadFailureException(url,
                        $"blob {blob.Digest} of {reference.Registry}/{reference.Repository}: the registry sent more than the {blob.Size} bytes the manifest declares (at least {size}); the registry or a proxy in front of it serves other content than the manifest describes"), ct)
                    : await HttpResponses.SaveBodyAsync(response, destination, options.MaxModuleBytes, size => options.TooLarge(url, size), ct);
                if (outcome.Digest != blob.Digest)
                {
                    throw new TransientFetchException($"blob {blob.Digest} arrived with digest {outcome.Digest} ({outcome.Size} of {blob.Size} bytes)");
                }

                if (blob.Size >= 0 && outcome.Size != blob.Size)
                {
                    // The whole blob (its digest matches) is shorter than declared: the manifest is wrong, not the transfer. As
                    // containerd and go-containerregistry refuse it; asking again gets the same.
                    throw new DownloadFailureException(url,
                        $"blob {blob.Digest} of {reference.Registry}/{reference.Repository} has {outcome.Size} bytes where the manifest declares {blob.Size}; the manifest does not describe its content: push it again");
                }

                var announced = Header(response, "Docker-Content-Digest");
                if (announced is not null && announced.StartsWith(Sha256Digest.Prefix, StringComparison.Ordinal) && announced != blob.Digest)
                {
                    throw new TransientFetchException($"Docker-Content-Digest {announced} does not match blob {blob.Digest}");
                }

                return outcome;
            }, cancellationToken);
        }
        catch (RetryExhaustedException ex)
        {
            throw HttpResponses.Failure(url, ex, uri, registry: true, detail => new DownloadFailureException(url, detail, ex));
        }
    }

    private async Task<HttpResponseMessage> SendAsync(
        FetchAttempt attempt, string url, OciReference reference, RegistryCredential? credential, Uri uri, string[]? accept, CancellationToken cancellationToken)
    {
        var authorization = auth.TryCached(reference.ApiHost, reference.Scope, credential);
        var response = await SendOnceAsync(attempt, uri, accept, authorization, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            var challenge = AuthChallenge.From(response);
            response.Dispose();
            if (challenge is null)
            {
                throw new AuthFailureException(url, $"registry {reference.Registry} answered 401 without a WWW-Authenticate challenge");
            }

            authorization = await auth.AuthorizeAsync(attempt, url, reference.ApiHost, reference.Scope, challenge, credential, cancellationToken);
            response = await SendOnceAsync(attempt, uri, accept, authorization, cancellationToken);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                response.Dispose();
                throw credential is null
                    ? AuthFailureException.NoCredentialsSent(url, reference.Registry, $"registry {reference.Registry} requires credentials")
                    : new AuthFailureException(url, $"registry {reference.Registry} rejected the credentials for {reference.Repository}");
            }
        }

        if (response.StatusCode == HttpStatusCode.Forbidden)
        {
            response.Dispose();
            throw new AuthFailureException(url, $"registry {reference.Registry} denied pull access to {reference.Repository} (403)");
        }

        for (var hop = 0; HttpResponses.IsRedirect(response.StatusCode); hop++)
        {
            using (response)
            {
                uri = HttpResponses.NextHop(url, uri, response, hop, hosts);
            }

            // Credentials are for the registry only, never for the storage it redirects to.
            response = await SendOnceAsync(attempt, uri, accept, null, cancellationToken);
        }

        return response;
    }

    private async Task<HttpResponseMessage> SendOnceAsync(FetchAttempt attempt, Uri uri, string[]? accept, AuthenticationHeaderValue? authorization, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (accept is not null)
        {
            foreach (var mediaType in accept)
            {
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(mediaType));
            }
        }

        request.Headers.Authorization = authorization;
        return await attempt.SendAsync(http, request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}
