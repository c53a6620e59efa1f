using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Metrics;

/// <summary>Plugin-defined metrics on /stats/prometheus.</summary>
public sealed class PluginMetricExportTests
{
    [Fact]
    public async Task Plugin_metric_names_that_collide_once_sanitised_still_give_a_valid_scrape()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("m", Wat("colliding_metrics"), "m")), o => o.ShardsPerPlugin = 1);

        var metrics = await proxy.MetricsAsync();

        PrometheusText.AssertValid(metrics);

        // a.b and a-b: one family, the later one labelled with its own name.
        Assert.Contains("# TYPE wasmcustom_a_b counter\nwasmcustom_a_b 1\nwasmcustom_a_b{wasm_metric=\"a-b\"} 2\n", metrics, StringComparison.Ordinal);

        // a_b is a gauge: the name is a counter's already, so it gets a type suffix.
        Assert.Contains("# TYPE wasmcustom_a_b_gauge gauge\nwasmcustom_a_b_gauge 3\n", metrics, StringComparison.Ordinal);

        // lat_sum would be the histogram lat's sum series.
        Assert.Contains("wasmcustom_lat_sum 37\n", metrics, StringComparison.Ordinal);
        Assert.Contains("# TYPE wasmcustom_lat_sum_counter counter\nwasmcustom_lat_sum_counter 4\n", metrics, StringComparison.Ordinal);

        // Label values escape the backslash, the double quote and the line feed.
        Assert.Contains("wasmcustom_esc_{wasm_metric=\"esc\\\"\"} 6\n", metrics, StringComparison.Ordinal);
        Assert.Contains("wasmcustom_esc_{wasm_metric=\"esc\\\\\"} 7\n", metrics, StringComparison.Ordinal);
        Assert.Contains("wasmcustom_esc_{wasm_metric=\"esc\\n\"} 8\n", metrics, StringComparison.Ordinal);

        // The same answer on every scrape, and each rename is logged once.
        Assert.Equal(metrics.Split('\n').Where(l => l.StartsWith("wasmcustom_", StringComparison.Ordinal)), (await proxy.MetricsAsync()).Split('\n').Where(l => l.StartsWith("wasmcustom_", StringComparison.Ordinal)));
        Assert.Single(proxy.Logs.Lines, l => l.Contains("'a_b' (Gauge) is exported as wasmcustom_a_b_gauge", StringComparison.Ordinal));
        Assert.Single(proxy.Logs.Lines, l => l.Contains("'lat_sum' (Counter) is exported as wasmcustom_lat_sum_counter", StringComparison.Ordinal));
    }

    [Fact]
    public async Task One_plugin_metric_name_defined_with_each_type_is_exported_as_three_families()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("m", Wat("same_name_each_type"), "m")), o => o.ShardsPerPlugin = 1);

        var metrics = await proxy.MetricsAsync();

        PrometheusText.AssertValid(metrics);

        // The counter came first and keeps the name; the gauge and the histogram get their type's suffix.
        Assert.Contains("# TYPE wasmcustom_shared counter\nwasmcustom_shared 5\n", metrics, StringComparison.Ordinal);
        Assert.Contains("# TYPE wasmcustom_shared_gauge gauge\nwasmcustom_shared_gauge 5\n", metrics, StringComparison.Ordinal);
        Assert.Contains("# TYPE wasmcustom_shared_histogram histogram\n", metrics, StringComparison.Ordinal);
        Assert.Contains("wasmcustom_shared_histogram_sum 5\nwasmcustom_shared_histogram_count 1\n", metrics, StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("'shared' (Gauge) is exported as wasmcustom_shared_gauge", StringComparison.Ordinal));
        Assert.Single(proxy.Logs.Lines, l => l.Contains("'shared' (Histogram) is exported as wasmcustom_shared_histogram", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Plugin_histograms_are_exported_with_envoys_default_buckets()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("m", Wat("colliding_metrics"), "m")), o => o.ShardsPerPlugin = 1);

        var metrics = await proxy.MetricsAsync();

        PrometheusText.AssertValid(metrics);
        var lat = string.Join("\n", metrics.Split('\n').Where(l => l.StartsWith("wasmcustom_lat_", StringComparison.Ordinal) && !l.StartsWith("wasmcustom_lat_sum_counter", StringComparison.Ordinal)));
        Assert.Contains("# TYPE wasmcustom_lat histogram\n", metrics, StringComparison.Ordinal);
        Assert.Equal(
            """
            wasmcustom_lat_bucket{le="0.5"} 0
            wasmcustom_lat_bucket{le="1"} 0
            wasmcustom_lat_bucket{le="5"} 0
            wasmcustom_lat_bucket{le="10"} 1
            wasmcustom_lat_bucket{le="25"} 1
            wasmcustom_lat_bucket{le="50"} 2
            wasmcustom_lat_bucket{le="100"} 2
            wasmcustom_lat_bucket{le="250"} 2
            wasmcustom_lat_bucket{le="500"} 2
            wasmcustom_lat_bucket{le="1000"} 2
            wasmcustom_lat_bucket{le="2500"} 2
            wasmcustom_lat_bucket{le="5000"} 2
            wasmcustom_lat_bucket{le="10000"} 2
            wasmcustom_lat_bucket{le="30000"} 2
            wasmcustom_lat_bucket{le="60000"} 2
            wasmcustom_lat_bucket{le="300000"} 2
            wasmcustom_lat_bucket{le="600000"} 2
            wasmcustom_lat_bucket{le="1800000"} 2
            wasmcustom_lat_bucket{le="3600000"} 2
            wasmcustom_lat_bucket{le="+Inf"} 2
            wasmcustom_lat_sum 37
            wasmcustom_lat_count 2
            """,
            lat);
    }
}
