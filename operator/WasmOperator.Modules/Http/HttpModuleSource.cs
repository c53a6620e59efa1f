using System.Net;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Verification;

namespace WasmOperator.Modules.Http;

/// <summary>Downloads a module from an https (or allowlisted http) URL, hashing it as it streams.</summary>
internal sealed class HttpModuleSource(HttpClient http, HostPolicy hosts, Retrier retrier, ModuleFetcherOptions options)
{
    public async Task<HashingCopy.Outcome> DownloadAsync(string url, Uri uri, string destination, CancellationToken cancellationToken)
    {
        try
        {
            return await retrier.ExecuteAsync(url, async (attempt, ct) =>
            {
                var current = uri;
                for (var hop = 0; ; hop++)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, current);
                    using var response = await attempt.SendAsync(http, request, HttpCompletionOption.ResponseHeadersRead, ct);
                    if (HttpResponses.IsRedirect(response.StatusCode))
                    {
                        current = HttpResponses.NextHop(url, current, response, hop, hosts);
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

                    return await HttpResponses.SaveBodyAsync(response, destination, options.MaxModuleBytes, size => options.TooLarge(url, size), ct);
                }
            }, cancellationToken);
        }
        catch (RetryExhaustedException ex)
        {
            throw HttpResponses.Failure(url, ex, uri, registry: false, detail => new DownloadFailureException(url, detail, ex));
        }
    }
}
