using Microsoft.Extensions.Logging;
using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.Proxy.Metrics;

/// <summary>
/// Assigns each plugin-defined metric its Prometheus name once, in definition order, so a later definition never
/// renames an earlier one. Names are sanitised (<c>a.b</c>, <c>a-b</c> and <c>a_b</c> all become <c>wasmcustom_a_b</c>);
/// a sanitised name already exported with the same type joins that family, labelled <c>wasm_metric="&lt;name&gt;"</c>;
/// one taken by another type (or by a histogram's <c>_bucket</c>/<c>_sum</c>/<c>_count</c>) gets a type suffix.
/// </summary>
internal sealed partial class PluginMetricNames(ILogger logger)
{
    private const string Prefix = "wasmcustom_";
    private readonly Lock _gate = new();

    // By name and type, as MetricRegistry keeps them: "x" as a counter and "x" as a gauge are two metrics.
    private readonly Dictionary<(string Name, MetricType Type), PluginMetricName> _assigned = [];
    private readonly Dictionary<string, MetricType> _families = new(StringComparer.Ordinal);

    // Every series name a family writes (a histogram's too), so that no two families can write the same one.
    private readonly HashSet<string> _series = new(StringComparer.Ordinal);

    public PluginMetricName For(string name, MetricType type)
    {
        lock (_gate)
        {
            if (_assigned.TryGetValue((name, type), out var assigned))
            {
                return assigned;
            }

            var family = Prefix + Sanitize(name);
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

    /// <summary>Prometheus metric names are <c>[a-zA-Z_:][a-zA-Z0-9_:]*</c>; the prefix supplies the first character.</summary>
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "plugin metric '{Name}' ({Type}) is exported as {Exported}: {Wanted} is already exported by another metric type")]
    private static partial void LogRenamed(ILogger logger, string name, MetricType type, string wanted, string exported);
}
