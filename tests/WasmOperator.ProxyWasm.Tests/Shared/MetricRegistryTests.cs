using System.Text;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Shared;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Shared;

public class MetricRegistryTests
{
    // Fixtures/metrics.wat: the configuration's first byte picks what on_configure does; any unexpected status traps.
    private static ProxyWasmPlugin Load(ProxyWasmRuntime runtime, string name, string operation) =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("metrics")), new PluginOptions
        {
            Name = name, VmId = name, Shards = 1, Configuration = Encoding.UTF8.GetBytes(operation),
        }, new TestPluginHost());

    private static long Value(ProxyWasmRuntime runtime, MetricType type) =>
        runtime.Metrics.Snapshot().Single(m => m.Name == "shared_metric" && m.Type == type).Value;

    [Fact]
    public void A_plugin_can_define_a_name_another_plugin_defined_with_another_type()
    {
        using var runtime = new ProxyWasmRuntime();
        using var gauge = Load(runtime, "a", "g");

        using var counter = Load(runtime, "b", "c"); // threw PluginLoadException: BAD_ARGUMENT trapped in on_configure

        Assert.Equal(7, Value(runtime, MetricType.Gauge));
        Assert.Equal(1, Value(runtime, MetricType.Counter));
    }

    [Fact]
    public void Metric_ids_belong_to_the_plugin_that_defined_them()
    {
        using var runtime = new ProxyWasmRuntime();
        using var gauge = Load(runtime, "a", "g");

        // Every id answers NOT_FOUND to a plugin that defined nothing, whatever other plugins defined.
        using var intruder = Load(runtime, "c", "x");

        Assert.Equal(7, Value(runtime, MetricType.Gauge));
    }

    [Fact]
    public void Plugins_defining_the_same_name_and_type_share_one_metric_as_in_Envoy()
    {
        using var runtime = new ProxyWasmRuntime();
        using var first = Load(runtime, "a", "c");
        using var second = Load(runtime, "b", "c");

        Assert.Equal(2, Value(runtime, MetricType.Counter));
        Assert.Single(runtime.Metrics.Snapshot());
    }

    [Theory]
    [InlineData(MetricType.Counter)]
    [InlineData(MetricType.Gauge)]
    [InlineData(MetricType.Histogram)]
    public void A_metric_added_past_2_to_the_63_stays_at_the_largest_value_instead_of_going_negative(MetricType type)
    {
        var registry = new MetricRegistry();
        var metric = registry.GetOrAdd(type, "big");
        for (var i = 0; i < 3; i++)
        {
            // 2^62 each time, as a plugin's proxy_record_metric (a histogram sample) or proxy_increment_metric may add.
            var status = type == MetricType.Histogram ? registry.Record(metric, 1L << 62) : registry.Increment(metric, 1L << 62);
            Assert.Equal(ProxyStatus.Ok, status);
        }

        Assert.Equal(long.MaxValue, registry.Snapshot().Single().Value); // was -4611686018427387904 (wrapped twice over 2^63)
    }

    [Fact]
    public void A_gauge_decremented_past_minus_2_to_the_63_stays_at_the_smallest_value()
    {
        var registry = new MetricRegistry();
        var gauge = registry.GetOrAdd(MetricType.Gauge, "low");
        registry.Record(gauge, 0);

        Assert.Equal(ProxyStatus.Ok, registry.Increment(gauge, long.MinValue));
        Assert.Equal(ProxyStatus.Ok, registry.Increment(gauge, -1));

        Assert.Equal(long.MinValue, registry.Get(gauge));
    }
}
