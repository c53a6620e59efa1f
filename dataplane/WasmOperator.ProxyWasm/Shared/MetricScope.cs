using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.ProxyWasm.Shared;

/// <summary>
/// One plugin's metric ids (Envoy keeps them per VM): an id reaches only a metric this plugin defined, so another
/// plugin cannot write into it by guessing, and every shard (and a rebuilt one) gets the same id for a (type, name).
/// </summary>
internal sealed class MetricScope(MetricRegistry registry)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(MetricType Type, string Name), int> _ids = [];
    private readonly List<MetricRegistry.Metric> _metrics = [];

    public int Define(MetricType type, string name)
    {
        lock (_gate)
        {
            if (!_ids.TryGetValue((type, name), out var id))
            {
                _metrics.Add(registry.GetOrAdd(type, name));
                id = _metrics.Count;
                _ids[(type, name)] = id;
            }

            return id;
        }
    }

    public ProxyStatus Increment(int id, long delta) =>
        Find(id) is { } metric ? registry.Increment(metric, delta) : ProxyStatus.NotFound;

    public ProxyStatus Record(int id, long value) =>
        Find(id) is { } metric ? registry.Record(metric, value) : ProxyStatus.NotFound;

    /// <summary>A counter's or gauge's value; a histogram has none to give (BAD_ARGUMENT, as Envoy answers).</summary>
    public ProxyStatus Get(int id, out long value)
    {
        value = 0;
        if (Find(id) is not { } metric)
        {
            return ProxyStatus.NotFound;
        }

        if (metric.Type == MetricType.Histogram)
        {
            return ProxyStatus.BadArgument;
        }

        value = registry.Get(metric);
        return ProxyStatus.Ok;
    }

    private MetricRegistry.Metric? Find(int id)
    {
        lock (_gate)
        {
            return id >= 1 && id <= _metrics.Count ? _metrics[id - 1] : null;
        }
    }
}
