namespace WasmOperator.Proxy.Metrics;

/// <summary>Where a plugin-defined metric is exported: its family's name, and the label value that tells it apart in a shared family.</summary>
internal readonly record struct PluginMetricName(string Family, string? Label);
