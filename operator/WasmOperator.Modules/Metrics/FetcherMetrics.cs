using Prometheus;

namespace WasmOperator.Modules.Metrics;

/// <summary>Prometheus metrics of the fetcher: fetches by result, cache hits and misses, bytes, durations, registry circuit breakers.</summary>
internal sealed class FetcherMetrics
{
    public FetcherMetrics(CollectorRegistry? registry)
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(registry ?? Prometheus.Metrics.DefaultRegistry);
        Fetches = factory.CreateCounter("wasmoperator_module_fetches_total", "Module fetches by result.", "result");
        CacheHits = factory.CreateCounter("wasmoperator_module_cache_hits_total", "Fetches answered from the module cache.");
        CacheMisses = factory.CreateCounter("wasmoperator_module_cache_misses_total", "Fetches that had to download the module.");
        Bytes = factory.CreateCounter("wasmoperator_module_downloaded_bytes_total", "Bytes of modules downloaded.");
        Duration = factory.CreateHistogram("wasmoperator_module_fetch_duration_seconds", "Duration of module fetches by result.",
            new HistogramConfiguration { LabelNames = ["result"], Buckets = Histogram.ExponentialBuckets(0.005, 2, 14) });
        CircuitOpen = factory.CreateGauge("wasmoperator_registry_circuit_open", "1 while the circuit breaker of this host:port (a registry, its blob storage or token realm) is open (fetches that need it fail at once), else 0.", "registry");
        CircuitFastFailures = factory.CreateCounter("wasmoperator_registry_circuit_fast_failures_total", "Fetch attempts failed at once, without a request, because the registry's circuit breaker was open.", "registry");
    }

    public Counter Fetches { get; }

    public Counter CacheHits { get; }

    public Counter CacheMisses { get; }

    public Counter Bytes { get; }

    public Histogram Duration { get; }

    public Gauge CircuitOpen { get; }

    public Counter CircuitFastFailures { get; }
}
