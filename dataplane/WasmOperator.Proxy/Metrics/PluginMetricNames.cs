using Microsoft.Extensions.Logging;
using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.Proxy.Metrics;

/// <summary>
/// Assigns each plugin-defined metric its Prometheus name once, in definition order, so a later definition never
/// renames an earlier one. As Envoy exports the metrics of its <c>wasmcustom</c> stat namespace, the name is the
/// plugin's own, sanitised and with no prefix (<c>a.b</c>, <c>a-b</c> and <c>a_b</c> all become <c>a_b</c>), so dashboards
/// written against Envoy's /stats/prometheus match; a name that starts with a digit is not a Prometheus name and is not
/// exported, as Envoy drops it (logged once). A sanitised name already exported with the same type joins that family,
/// labelled <c>wasm_metric="&lt;name&gt;"</c>; one taken by another type, by a histogram's <c>_bucket</c>/<c>_sum</c>/<c>_count</c>,
/// or by one of the proxy's own metrics (<see cref="Reserve"/>) gets a type suffix.
/// </summary>
internal sealed partial class PluginMetricNames(ILogger logger)
{
    private readonly Lock _gate = new();

    // By name and type, as MetricRegistry keeps them: "x" as a counter and "x" as a gauge are two metrics.
    private readonly Dictionary<(string Name, MetricType Type), PluginMetricName?> _assigned = [];
    private readonly Dictionary<string, MetricType> _families = new(StringComparer.Ordinal);

    // Every series name a family writes (a histogram's too), so that no two families can write the same one.
    private readonly HashSet<string> _series = new(StringComparer.Ordinal);

    /// <summary>Series names the proxy's own metrics write: no plugin metric is exported under one of them.</summary>
    public void Reserve(IEnumerable<string> series)
    {
        lock (_gate)
        {
            _series.UnionWith(series);
        }
    }

    /// <summary>Where the metric is exported, or null when its name is no Prometheus name.</summary>
    public PluginMetricName? For(string name, MetricType type)
    {
        lock (_gate)
        {
            if (_assigned.TryGetValue((name, type), out var assigned))
            {
                return assigned;
            }

            var family = Sanitize(name);
            if (family.Length == 0 || char.IsAsciiDigit(family[0]))
            {
                LogNotExported(logger, name, type);
                _assigned[(name, type)] = null;
                return null;
            }
            if (_families.TryGetValue(family, out var existing) && existing == type)
            {
                assigned = new PluginMetricName(family, name);
            }
            else
            {
                var wanted = family;
                var suffix = type switch { MetricType.Counter => "_counter", MetricType.Gauge => "_gauge", _ => "_histogram" };
                for (var n = 1; Taken(family, type); n++)
                {
                    family = wanted + suffix + (n == 1 ? "" : "_" + n.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }

                if (!string.Equals(family, wanted, StringComparison.Ordinal))
                {
                    LogRenamed(logger, name, type, wanted, family);
                }

                _families[family] = type;
                foreach (var series in SeriesOf(family, type))
                {
                    _series.Add(series);
                }

                assigned = new PluginMetricName(family, null);
            }

            _assigned[(name, type)] = assigned;
            return assigned;
        }
    }

    private bool Taken(string family, MetricType type)
    {
        if (_families.ContainsKey(family))
        {
            return true;
        }

        foreach (var series in SeriesOf(family, type))
        {
            if (_series.Contains(series))
            {
                return true;
            }
        }

        return false;
    }

    private static string[] SeriesOf(string family, MetricType type) =>
        type == MetricType.Histogram ? [family, family + "_bucket", family + "_sum", family + "_count"] : [family];

    /// <summary>Prometheus metric names are <c>[a-zA-Z_:][a-zA-Z0-9_:]*</c>: every other character becomes <c>_</c> (a leading digit is left to the caller).</summary>
    private static string Sanitize(string name)
    {
        var chars = name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (!char.IsAsciiLetterOrDigit(chars[i]) && chars[i] != '_')
            {
                chars[i] = '_';
            }
        }

        return new string(chars);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "plugin metric '{Name}' ({Type}) is exported as {Exported}: {Wanted} is already exported by another metric type or by the proxy")]
    private static partial void LogRenamed(ILogger logger, string name, MetricType type, string wanted, string exported);

    [LoggerMessage(Level = LogLevel.Warning, Message = "plugin metric '{Name}' ({Type}) is not exported: a Prometheus metric name cannot start with a digit or be empty (Envoy drops it too); it still counts for proxy_get_metric")]
    private static partial void LogNotExported(ILogger logger, string name, MetricType type);
}
