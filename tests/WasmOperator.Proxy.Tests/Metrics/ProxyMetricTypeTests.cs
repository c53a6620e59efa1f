using WasmOperator.Proxy.Tests.Support;

namespace WasmOperator.Proxy.Tests.Metrics;

/// <summary>The proxy's own metric families on /stats/prometheus: types as their names say.</summary>
public sealed class ProxyMetricTypeTests
{
    [Theory]
    [InlineData("dotnet_gc_allocated_bytes_total")]
    [InlineData("dotnet_threadpool_completed_items_total")]
    [InlineData("proxy_log_lines_written_total")]
    [InlineData("proxy_log_lines_dropped_total")]
    public async Task A_count_since_the_start_named_total_is_exported_as_a_counter(string name)
    {
        // These were gauges with a _total suffix, which promtool check metrics flags.
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n");
        await proxy.GetAsync("/");

        var metrics = await proxy.MetricsAsync();

        PrometheusText.AssertValid(metrics);
        Assert.Contains($"# TYPE {name} counter\n", metrics, StringComparison.Ordinal);
        Assert.Single(metrics.Split('\n'), l => l.StartsWith(name + " ", StringComparison.Ordinal));
    }
}
