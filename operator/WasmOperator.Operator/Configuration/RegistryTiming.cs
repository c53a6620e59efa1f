using WasmOperator.Modules;

namespace WasmOperator.Operator.Configuration;

/// <summary>
/// Registry time limits, retries and circuit breaker handed to the fetcher; each defaults to the fetcher's own
/// (see <see cref="ModuleFetcherOptions"/>).
/// </summary>
internal sealed record RegistryTiming
{
    private static readonly ModuleFetcherOptions Defaults = new() { CacheDirectory = "unused" };

    public TimeSpan ResponseHeadersTimeout { get; init; } = Defaults.ResponseHeadersTimeout;

    public int MaxRetries { get; init; } = Defaults.MaxRetries;

    public TimeSpan RetryBaseDelay { get; init; } = Defaults.RetryBaseDelay;

    public TimeSpan CircuitBreakerCooldown { get; init; } = Defaults.CircuitBreakerCooldown;

    public TimeSpan CircuitBreakerMaxCooldown { get; init; } = Defaults.CircuitBreakerMaxCooldown;
}
