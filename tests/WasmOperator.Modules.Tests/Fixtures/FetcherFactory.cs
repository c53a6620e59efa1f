using Prometheus;

namespace WasmOperator.Modules.Tests.Fixtures;

/// <summary>Builds fetchers for tests: own cache directory, own metrics registry, short retry delays.</summary>
internal static class FetcherFactory
{
    public static ModuleFetcherOptions Options(string cacheDirectory, params string[] insecureHosts) => new()
    {
        CacheDirectory = cacheDirectory,
        InsecureHosts = insecureHosts,
        MetricsRegistry = Prometheus.Metrics.NewCustomRegistry(),
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        RetryMaxDelay = TimeSpan.FromMilliseconds(200),
        RequestTimeout = TimeSpan.FromSeconds(20),
        FetchTimeout = TimeSpan.FromSeconds(60),
    };
}
