using System.Net.Sockets;
using System.Security.Authentication;
using WasmOperator.Modules.Failures;

namespace WasmOperator.Modules.Http;

/// <summary>
/// Runs an attempt and retries transient failures (transport errors, 5xx, 429, cut transfers, a server that stalls
/// past the HTTP client's response timeouts) with exponential backoff and jitter. Other errors pass through at once.
/// Every attempt goes through the host's <see cref="RegistryCircuitBreaker"/>: a host that keeps failing is not tried
/// until its cooldown ends, and the fetch fails at once with <see cref="RegistryUnavailableException"/>.
/// </summary>
internal sealed class Retrier(ModuleFetcherOptions options, RegistryCircuitBreaker? breaker = null)
{
    private readonly RegistryCircuitBreaker _breaker = breaker ?? new RegistryCircuitBreaker(options, null, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

    public async Task<T> ExecuteAsync<T>(string url, Func<CancellationToken, Task<T>> attempt, CancellationToken cancellationToken)
    {
        var host = RegistryCircuitBreaker.HostOf(url);
        for (var n = 0; ; n++)
        {
            Exception failure;
            TimeSpan? retryAfter = null;
            var probe = _breaker.Enter(url, host);
            try
            {
                var result = await attempt(cancellationToken);
                _breaker.Answered(host);
                return result;
            }
            catch (Exception ex) when (FindBlocked(ex) is { } blocked)
            {
                _breaker.Released(host, probe);
                throw new BlockedAddressException(url, blocked.Host, blocked.Address);
            }
            catch (TransientFetchException ex)
            {
                failure = ex;
                retryAfter = ex.RetryAfter;
            }
            catch (HttpRequestException ex) when (ex.InnerException is AuthenticationException)
            {
                // An untrusted or mismatched certificate does not heal by retrying.
                _breaker.Released(host, probe);
                throw new RetryExhaustedException(n + 1, ex);
            }
            catch (HttpRequestException ex)
            {
                failure = ex;
            }
            catch (IOException ex)
            {
                failure = ex;
            }
            catch (SocketException ex)
            {
                // Not always wrapped: a connection the registry resets as soon as it is accepted (a load balancer
                // during an outage) can fail HttpClient's own RemoteEndPoint lookup with a bare ENOTCONN.
                failure = ex;
            }
            catch (ModuleFetchException)
            {
                // A final answer (404, 401, 403, a bad redirect): the host works.
                _breaker.Answered(host);
                throw;
            }
            catch
            {
                _breaker.Released(host, probe);
                throw;
            }

            if (failure is TransientFetchException { HostUnwell: false })
            {
                // A 500 or a corrupt blob: the host answered, one repository or blob is at fault.
                _breaker.Answered(host);
            }
            else
            {
                _breaker.Failed(host, probe, failure);
            }

            if (n >= options.MaxRetries)
            {
                throw new RetryExhaustedException(n + 1, failure);
            }

            await Task.Delay(Backoff(n, retryAfter), cancellationToken);
        }
    }

    private TimeSpan Backoff(int retry, TimeSpan? retryAfter)
    {
        if (retryAfter is { } after)
        {
            return after < options.RetryMaxDelay ? after : options.RetryMaxDelay;
        }

        var exponential = options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, retry);
        var capped = Math.Min(exponential, options.RetryMaxDelay.TotalMilliseconds);
        // Full jitter in [50%, 100%] spreads retries of many fetchers hitting one registry.
        return TimeSpan.FromMilliseconds(capped * (0.5 + (Random.Shared.NextDouble() / 2)));
    }

    private static BlockedConnectionException? FindBlocked(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is BlockedConnectionException blocked)
            {
                return blocked;
            }
        }

        return null;
    }
}
