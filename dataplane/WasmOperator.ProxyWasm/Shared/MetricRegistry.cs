using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.ProxyWasm.Shared;

/// <summary>
/// Plugin-defined metrics, process-wide (like Envoy stats: one name and type, one metric, shared by every shard and
/// plugin). Plugins reach them only by the ids of their own <see cref="MetricScope"/>. The proxy exports them from
/// <see cref="Snapshot"/>; tests read them with <see cref="TryGet(string, MetricType, out MetricValue)"/>.
/// </summary>
public sealed class MetricRegistry
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(MetricType Type, string Name), Metric> _byKey = [];
    private readonly List<Metric> _metrics = [];

    /// <summary>
    /// Upper bounds of the histogram buckets, Envoy's defaults (<c>HistogramSettingsImpl::defaultBuckets</c>); a
    /// sample above the last one counts only in the total.
    /// </summary>
    public static IReadOnlyList<double> HistogramBounds { get; } =
        [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

    /// <summary>
    /// A metric's current state. Histograms report the sum as value, the number of samples as count, and in
    /// <see cref="BucketCounts"/> the samples per bucket of <see cref="HistogramBounds"/> (not cumulative).
    /// </summary>
    public sealed record MetricValue(string Name, MetricType Type, long Value, long Count)
    {
        public IReadOnlyList<long> BucketCounts { get; init; } = [];
    }

    /// <summary>A new id table for one plugin: the ids it gets from <c>proxy_define_metric</c> reach only its own metrics.</summary>
    internal MetricScope CreateScope() => new(this);

    /// <summary>
    /// The metric of this type and name, created on first use. A name is one metric per type (Envoy keeps counters,
    /// gauges and histograms apart), so plugins defining the same name and type share it, as Envoy stats do.
    /// </summary>
    internal Metric GetOrAdd(MetricType type, string name)
    {
        lock (_gate)
        {
            if (!_byKey.TryGetValue((type, name), out var metric))
            {
                metric = new Metric(name, type);
                _byKey[(type, name)] = metric;
                _metrics.Add(metric);
            }

            return metric;
        }
    }

    internal ProxyStatus Increment(Metric metric, long delta)
    {
        if (metric.Type == MetricType.Histogram || (metric.Type == MetricType.Counter && delta <= 0))
        {
            return ProxyStatus.BadArgument;
        }

        lock (_gate)
        {
            metric.Value = SaturatingAdd(metric.Value, delta);
        }

        return ProxyStatus.Ok;
    }

    /// <summary>
    /// <paramref name="value"/> + <paramref name="delta"/>, held at long's bounds instead of wrapping: a counter that
    /// reached 2^63 - 1 stays there (wrapped, it would go negative, which Prometheus reads as a reset), and so does a
    /// gauge or a histogram's sum.
    /// </summary>
    internal static long SaturatingAdd(long value, long delta)
    {
        var sum = unchecked(value + delta);
        return ((value ^ sum) & (delta ^ sum)) < 0 ? (delta > 0 ? long.MaxValue : long.MinValue) : sum;
    }

    /// <summary>
    /// Sets a gauge, adds to a counter, or adds a sample to a histogram. The ABI's value is a u64: a counter or histogram
    /// value past 2^63 (a negative one from a plugin that meant a signed number) is refused, not added, so a counter
    /// never goes down (Envoy's unsigned add would wrap it). A gauge keeps the signed value, as a gauge may go below zero.
    /// </summary>
    internal ProxyStatus Record(Metric metric, long value)
    {
        if (value < 0 && metric.Type != MetricType.Gauge)
        {
            return ProxyStatus.BadArgument;
        }

        lock (_gate)
        {
            switch (metric.Type)
            {
                case MetricType.Counter:
                    metric.Value = SaturatingAdd(metric.Value, value);
                    break;
                case MetricType.Gauge:
                    metric.Value = value;
                    break;
                default:
                    metric.Value = SaturatingAdd(metric.Value, value);
                    metric.Count++;
                    metric.Observe(value);
                    break;
            }
        }

        return ProxyStatus.Ok;
    }

    internal long Get(Metric metric)
    {
        lock (_gate)
        {
            return metric.Value;
        }
    }

    /// <summary>The metric of this name and type, if a plugin defined it.</summary>
    public bool TryGet(string name, MetricType type, out MetricValue value)
    {
        lock (_gate)
        {
            if (_byKey.TryGetValue((type, name), out var m))
            {
                value = m.ToValue();
                return true;
            }
        }

        value = new MetricValue(name, type, 0, 0);
        return false;
    }

    /// <summary>All metrics, in definition order.</summary>
    public IReadOnlyList<MetricValue> Snapshot()
    {
        lock (_gate)
        {
            var result = new List<MetricValue>(_metrics.Count);
            foreach (var m in _metrics)
            {
                result.Add(m.ToValue());
            }

            return result;
        }
    }

    internal sealed class Metric(string name, MetricType type)
    {
        private readonly long[] _buckets = type == MetricType.Histogram ? new long[HistogramBounds.Count] : [];

        public string Name { get; } = name;

        public MetricType Type { get; } = type;

        public long Value { get; set; }

        public long Count { get; set; }

        public void Observe(long value)
        {
            for (var i = 0; i < _buckets.Length; i++)
            {
                if (value <= HistogramBounds[i])
                {
                    _buckets[i]++;
                    return;
                }
            }
        }

        public MetricValue ToValue() => new(Name, Type, Value, Count) { BucketCounts = [.. _buckets] };
    }
}
