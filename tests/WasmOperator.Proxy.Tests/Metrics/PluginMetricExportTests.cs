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
        Assert.Contains("# TYPE a_b counter\na_b 1\na_b{wasm_metric=\"a-b\"} 2\n", metrics, StringComparison.Ordinal);

        // a_b is a gauge: the name is a counter's already, so it gets a type suffix.
        Assert.Contains("# TYPE a_b_gauge gauge\na_b_gauge 3\n", metrics, StringComparison.Ordinal);

        // lat_sum would be the histogram lat's sum series.
        Assert.Contains("lat_sum 37\n", metrics, StringComparison.Ordinal);
        Assert.Contains("# TYPE lat_sum_counter counter\nlat_sum_counter 4\n", metrics, StringComparison.Ordinal);

        // Label values escape the backslash, the double quote and the line feed.
        Assert.Contains("esc_{wasm_metric=\"esc\\\"\"} 6\n", metrics, StringComparison.Ordinal);
        Assert.Contains("esc_{wasm_metric=\"esc\\\\\"} 7\n", metrics, StringComparison.Ordinal);
        Assert.Contains("esc_{wasm_metric=\"esc\\n\"} 8\n", metrics, StringComparison.Ordinal);

        // The same answer on every scrape, and each rename is logged once.
        string[] families = ["a_b", "lat", "esc_"];
        bool IsPlugin(string line) => families.Any(f => line.StartsWith(f, StringComparison.Ordinal));
        Assert.Equal(metrics.Split('\n').Where(IsPlugin), (await proxy.MetricsAsync()).Split('\n').Where(IsPlugin));
        Assert.Single(proxy.Logs.Lines, l => l.Contains("'a_b' (Gauge) is exported as a_b_gauge", StringComparison.Ordinal));
        Assert.Single(proxy.Logs.Lines, l => l.Contains("'lat_sum' (Counter) is exported as lat_sum_counter", StringComparison.Ordinal));
    }

    [Fact]
    public async Task One_plugin_metric_name_defined_with_each_type_is_exported_as_three_families()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("m", Wat("same_name_each_type"), "m")), o => o.ShardsPerPlugin = 1);

        var metrics = await proxy.MetricsAsync();

        PrometheusText.AssertValid(metrics);

        // The counter came first and keeps the name; the gauge and the histogram get their type's suffix.
        Assert.Contains("# TYPE shared counter\nshared 5\n", metrics, StringComparison.Ordinal);
        Assert.Contains("# TYPE shared_gauge gauge\nshared_gauge 5\n", metrics, StringComparison.Ordinal);
        Assert.Contains("# TYPE shared_histogram histogram\n", metrics, StringComparison.Ordinal);
        Assert.Contains("shared_histogram_sum 5\nshared_histogram_count 1\n", metrics, StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("'shared' (Gauge) is exported as shared_gauge", StringComparison.Ordinal));
        Assert.Single(proxy.Logs.Lines, l => l.Contains("'shared' (Histogram) is exported as shared_histogram", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Plugin_histograms_are_exported_with_envoys_default_buckets()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("m", Wat("colliding_metrics"), "m")), o => o.ShardsPerPlugin = 1);

        var metrics = await proxy.MetricsAsync();

        PrometheusText.AssertValid(metrics);
        var lat = string.Join("\n", metrics.Split('\n').Where(l => l.StartsWith("lat_", StringComparison.Ordinal) && !l.StartsWith("lat_sum_counter", StringComparison.Ordinal)));
        Assert.Contains("# TYPE lat histogram\n", metrics, StringComparison.Ordinal);
        Assert.Equal(
            """
            lat_bucket{le="0.5"} 0
            lat_bucket{le="1"} 0
            lat_bucket{le="5"} 0
            lat_bucket{le="10"} 1
            lat_bucket{le="25"} 1
            lat_bucket{le="50"} 2
            lat_bucket{le="100"} 2
            lat_bucket{le="250"} 2
            lat_bucket{le="500"} 2
            lat_bucket{le="1000"} 2
            lat_bucket{le="2500"} 2
            lat_bucket{le="5000"} 2
            lat_bucket{le="10000"} 2
            lat_bucket{le="30000"} 2
            lat_bucket{le="60000"} 2
            lat_bucket{le="300000"} 2
            lat_bucket{le="600000"} 2
            lat_bucket{le="1800000"} 2
            lat_bucket{le="3600000"} 2
            lat_bucket{le="+Inf"} 2
            lat_sum 37
            lat_count 2
            """,
            lat);
    }

    [Fact]
    public async Task Plugin_metrics_take_their_own_names_as_on_envoy_and_never_a_name_of_the_proxys_own()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("m", Wat("metric_names_and_values"), "m")), o => o.ShardsPerPlugin = 1);
        using var response = await proxy.Client.GetAsync(new Uri("/", UriKind.Relative));

        var metrics = await proxy.MetricsAsync();

        PrometheusText.AssertValid(metrics);
        Assert.Contains("# TYPE istio_requests_total counter\nistio_requests_total 1\n", metrics, StringComparison.Ordinal);
        // The proxy's own counter keeps its name and value; the plugin's is renamed.
        Assert.Contains("# TYPE proxy_requests_total_counter counter\nproxy_requests_total_counter 7\n", metrics, StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("'proxy_requests_total' (Counter) is exported as proxy_requests_total_counter", StringComparison.Ordinal));
        Assert.DoesNotContain("9lives", metrics, StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("plugin metric '9lives' (Counter) is not exported", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_negative_value_recorded_on_a_counter_is_refused_and_a_histogram_has_no_value_to_get()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("m", Wat("metric_names_and_values"), "m")), o => o.ShardsPerPlugin = 1);

        var metrics = await proxy.MetricsAsync();

        // Statuses the plugin saw, recorded in gauges: BAD_ARGUMENT is 2.
        Assert.Contains("record_negative_on_counter_status 2\n", metrics, StringComparison.Ordinal);
        Assert.Contains("get_histogram_status 2\n", metrics, StringComparison.Ordinal);
        Assert.Contains("record_negative_on_gauge_status 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("# TYPE istio_requests_total counter\nistio_requests_total 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("temperature -3\n", metrics, StringComparison.Ordinal);
    }
}
