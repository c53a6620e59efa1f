using System.Net;
using WasmOperator.Modules.Failures;
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
                    if (HttpResponses.IsRedirect(response.StatusCode))
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

                    HttpResponses.ThrowIfTransient(response);
                    if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                    {
                        throw new AuthFailureException(url, $"the server answered {(int)response.StatusCode}");
                    }

                    if (!response.IsSuccessStatusCode)
                    {
                        throw new DownloadFailureException(url, $"the server answered {(int)response.StatusCode}");
                    }

                    return await HttpResponses.SaveBodyAsync(url, response, destination, options.MaxModuleBytes, ct);
                }
            }, cancellationToken);
        }
        catch (RetryExhaustedException ex)
        {
            throw new DownloadFailureException(url, ex.Message, ex);
        }
    }
}
