namespace WasmOperator.Operator.Configuration;

/// <summary>Registry time limits, retries and circuit breaker handed to the fetcher (see <see cref="WasmOperator.Modules.ModuleFetcherOptions"/>).</summary>
internal sealed record RegistryTiming
{
    public required TimeSpan ResponseHeadersTimeout { get; init; }

    public required int MaxRetries { get; init; }

    public required TimeSpan RetryBaseDelay { get; init; }

    public required TimeSpan CircuitBreakerCooldown { get; init; }

    public required TimeSpan CircuitBreakerMaxCooldown { get; init; }
}
