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

    /// <summary>A metric's current state. Histograms report the sum as value and the number of samples as count.</summary>
    public sealed record MetricValue(string Name, MetricType Type, long Value, long Count);

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
                value = new MetricValue(m.Name, m.Type, m.Value, m.Count);
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
                result.Add(new MetricValue(m.Name, m.Type, m.Value, m.Count));
            }

            return result;
        }
    }

    private Metric? Find(int id) => id >= 1 && id <= _metrics.Count ? _metrics[id - 1] : null;

    private sealed class Metric(string name, MetricType type)
    {
        public string Name { get; } = name;

        public MetricType Type { get; } = type;

        public long Value { get; set; }

        public long Count { get; set; }
    }
}
