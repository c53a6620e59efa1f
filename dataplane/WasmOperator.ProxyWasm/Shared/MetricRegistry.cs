using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.ProxyWasm.Shared;

/// <summary>
/// Plugin-defined metrics, process-wide (like Envoy stats: one name, one metric, shared by every
/// shard). The proxy exports them from <see cref="Snapshot"/>; tests read them with <see cref="TryGet"/>.
/// </summary>
public sealed class MetricRegistry
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _byName = new(StringComparer.Ordinal);
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

    internal ProxyStatus Define(MetricType type, string name, out int id)
    {
        lock (_gate)
        {
            if (_byName.TryGetValue(name, out id))
            {
                return _metrics[id - 1].Type == type ? ProxyStatus.Ok : ProxyStatus.BadArgument;
            }

            _metrics.Add(new Metric(name, type));
            id = _metrics.Count;
            _byName[name] = id;
            return ProxyStatus.Ok;
        }
    }

    internal ProxyStatus Increment(int id, long delta)
    {
        lock (_gate)
        {
            if (Find(id) is not { } metric)
            {
                return ProxyStatus.NotFound;
            }

            if (metric.Type == MetricType.Counter && delta <= 0)
            {
                return ProxyStatus.BadArgument;
            }

            if (metric.Type == MetricType.Histogram)
            {
                return ProxyStatus.BadArgument;
            }

            metric.Value += delta;
            return ProxyStatus.Ok;
        }
    }

    internal ProxyStatus Record(int id, long value)
    {
        lock (_gate)
        {
            if (Find(id) is not { } metric)
            {
                return ProxyStatus.NotFound;
            }

            switch (metric.Type)
            {
                case MetricType.Counter:
                    metric.Value += value;
                    break;
                case MetricType.Gauge:
                    metric.Value = value;
                    break;
                default:
                    metric.Value += value;
                    metric.Count++;
                    metric.Observe(value);
                    break;
            }

            return ProxyStatus.Ok;
        }
    }

    internal ProxyStatus Get(int id, out long value)
    {
        lock (_gate)
        {
            var metric = Find(id);
            value = metric?.Value ?? 0;
            return metric is null ? ProxyStatus.NotFound : ProxyStatus.Ok;
        }
    }

    /// <summary>The metric named <paramref name="name"/>, if a plugin defined it.</summary>
    public bool TryGet(string name, out MetricValue value)
    {
        lock (_gate)
        {
            if (_byName.TryGetValue(name, out var id))
            {
                var m = _metrics[id - 1];
                value = m.ToValue();
                return true;
            }
        }

        value = new MetricValue(name, MetricType.Counter, 0, 0);
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

    private Metric? Find(int id) => id >= 1 && id <= _metrics.Count ? _metrics[id - 1] : null;

    private sealed class Metric(string name, MetricType type)
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
