namespace WasmOperator.ProxyWasm.Abi;

/// <summary>Metric kinds (spec "MetricType").</summary>
public enum MetricType
{
    /// <summary>Monotonic counter: increments must be positive; record adds.</summary>
    Counter = 0,
    /// <summary>Gauge: record sets, increment adds (may be negative).</summary>
    Gauge = 1,
    /// <summary>Histogram: record observes a value.</summary>
    Histogram = 2,
}
