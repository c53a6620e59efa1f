using System.Net.Sockets;
using System.Security.Authentication;
using WasmOperator.Modules.Failures;

namespace WasmOperator.Modules.Http;

/// <summary>
/// Runs an attempt and retries transient failures (transport errors, 5xx, 429, cut transfers, a server that stalls
/// past the HTTP client's response timeouts) with exponential backoff and jitter. Other errors pass through at once.
/// Every request of an attempt goes through the <see cref="RegistryCircuitBreaker"/> of the host it is sent to (see
/// <see cref="FetchAttempt"/>): a host that keeps failing is not tried until its cooldown ends, and a fetch that needs it
/// fails at once with <see cref="RegistryUnavailableException"/>; fetches that need only other hosts go ahead.
/// </summary>
internal sealed class Retrier(ModuleFetcherOptions options, RegistryCircuitBreaker? breaker = null)
{
    private readonly RegistryCircuitBreaker _breaker = breaker ?? new RegistryCircuitBreaker(options, null, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

    public async Task<T> ExecuteAsync<T>(string url, Func<FetchAttempt, CancellationToken, Task<T>> attempt, CancellationToken cancellationToken)
    {
        for (var n = 0; ; n++)
        {
            Exception failure;
            TimeSpan? retryAfter = null;
            var current = new FetchAttempt(url, _breaker);
            try
            {
                var result = await attempt(current, cancellationToken);
                Answered(current);
                return result;
            }
            catch (Exception ex) when (FindBlocked(ex) is { } blocked)
            {
                Released(current);
                throw new BlockedAddressException(url, blocked.Host, blocked.Address, blocked.Why);
            }
            catch (TransientFetchException ex)
            {
                failure = ex;
                retryAfter = ex.RetryAfter;
            }
            catch (HttpRequestException ex) when (ex.InnerException is AuthenticationException)
            {
                // An untrusted or mismatched certificate does not heal by retrying. The host took the connection and
                // went through the handshake up to the verdict: it answers, so an open breaker closes (its probe only
                // released, it stayed open and the fetch flapped between this error and RegistryUnavailable).
                Answered(current);
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
                // A final answer (404, 401, 403, a bad redirect): the hosts work.
                Answered(current);
                throw;
            }
            catch
            {
                Released(current);
                throw;
            }

            if (failure is TransientFetchException { HostUnwell: false })
            {
                // A 500 or a corrupt blob: the host answered, one repository or blob is at fault.
                Answered(current);
            }
            else
            {
                Failed(url, current, failure);
            }

            if (n >= options.MaxRetries)
            {
                throw new RetryExhaustedException(n + 1, failure);
            }

            await Task.Delay(Backoff(n, retryAfter), cancellationToken);
        }
    }

    /// <summary>
    /// The failure counts against the host it came from (a redirect target or token realm may be another than the
    /// registry); the hosts reached before it answered, so a registry whose storage fails stays closed.
    /// </summary>
    private void Failed(string url, FetchAttempt attempt, Exception failure)
    {
        var failed = RegistryCircuitBreaker.FailedHostOf(failure) ?? attempt.LastHost ?? RegistryCircuitBreaker.HostOf(url);
        var counted = false;
        foreach (var (host, probe) in attempt.Entered)
        {
            if (string.Equals(host, failed, StringComparison.OrdinalIgnoreCase))
            {
                _breaker.Failed(host, probe, failure);
                counted = true;
            }
            else
            {
                _breaker.Answered(host);
            }
        }

        if (!counted)
        {
            _breaker.Failed(failed, probe: false, failure);
        }
    }

    private void Answered(FetchAttempt attempt)
    {
        foreach (var (host, _) in attempt.Entered)
        {
            _breaker.Answered(host);
        }
    }

    private void Released(FetchAttempt attempt)
    {
        foreach (var (host, probe) in attempt.Entered)
        {
            _breaker.Released(host, probe);
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
