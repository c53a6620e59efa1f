using System.Net;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Oci;
using WasmOperator.Modules.Verification;

namespace WasmOperator.Modules.Http;

/// <summary>Downloads a module from an https (or allowlisted http) URL, hashing it as it streams.</summary>
internal sealed class HttpModuleSource(HttpClient http, HostPolicy hosts, Retrier retrier, ModuleFetcherOptions options)
{
    private const int MaxRedirects = 5;

    public async Task<HashingCopy.Outcome> DownloadAsync(string url, Uri uri, string destination, CancellationToken cancellationToken)
    {
        try
        {
            return await retrier.ExecuteAsync(url, async ct =>
            {
                var current = uri;
                for (var hop = 0; ; hop++)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, current);
                    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                    if (response.StatusCode is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther
                        or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect)
                    {
                        var location = response.Headers.Location;
                        if (location is null || hop >= MaxRedirects)
                        {
                            throw new DownloadFailureException(url, location is null ? "a redirect without Location" : $"more than {MaxRedirects} redirects");
                        }

                        current = location.IsAbsoluteUri ? location : new Uri(current, location);
                        if (!hosts.MayUse(current))
                        {
                            throw new DownloadFailureException(url, $"redirected to {current.GetLeftPart(UriPartial.Path)}, which is plain http on a host not on the insecure allowlist");
                        }

                        continue;
                    }

                    OciRegistryClient.ThrowIfTransient(response);
                    if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                    {
                        throw new AuthFailureException(url, $"the server answered {(int)response.StatusCode}");
                    }

                    if (!response.IsSuccessStatusCode)
                    {
                        throw new DownloadFailureException(url, $"the server answered {(int)response.StatusCode}");
                    }

                    if (response.Content.Headers.ContentLength is { } length && length > options.MaxModuleBytes)
                    {
                        throw new ModuleTooLargeException(url, length, options.MaxModuleBytes);
                    }

                    await using var body = await response.Content.ReadAsStreamAsync(ct);
                    var outcome = await HashingCopy.CopyAsync(body, destination, options.MaxModuleBytes, ct);
                    if (outcome.LimitExceeded)
                    {
                        throw new ModuleTooLargeException(url, outcome.Size, options.MaxModuleBytes);
                    }

                    return outcome;
                }
            }, cancellationToken);
        }
        catch (RetryExhaustedException ex)
        {
            throw new DownloadFailureException(url, ex.Message, ex);
        }
    }
}
