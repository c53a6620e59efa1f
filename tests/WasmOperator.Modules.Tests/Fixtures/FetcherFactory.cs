using Prometheus;

namespace WasmOperator.Modules.Tests.Fixtures;

/// <summary>Builds fetchers for tests: own cache directory, own metrics registry, short retry delays.</summary>
internal static class FetcherFactory
{
    public static ModuleFetcherOptions Options(string cacheDirectory, params string[] insecureHosts) =>
        Options(cacheDirectory, TimeProvider.System, insecureHosts);

    /// <summary>As <see cref="Options(string, string[])"/>, on <paramref name="time"/> (a fake clock for lifetimes).</summary>
    public static ModuleFetcherOptions Options(string cacheDirectory, TimeProvider time, params string[] insecureHosts) => new()
    {
        CacheDirectory = cacheDirectory,
        InsecureHosts = insecureHosts,
        MetricsRegistry = Prometheus.Metrics.NewCustomRegistry(),
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        RetryMaxDelay = TimeSpan.FromMilliseconds(200),
        ResponseHeadersTimeout = TimeSpan.FromSeconds(20),
        FetchTimeout = TimeSpan.FromSeconds(60),
        TimeProvider = time,
    };
}
