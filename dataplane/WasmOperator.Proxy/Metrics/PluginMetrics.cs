using Prometheus;

namespace WasmOperator.Proxy.Metrics;

/// <summary>One plugin's metric children.</summary>
internal sealed record PluginMetrics(
    Counter.Child Requests,
    Counter.Child Traps,
    Counter.Child Rebuilds,
    Counter.Child ReloadRetries,
    Counter.Child FailOpen,
    Counter.Child FailClosed,
    Func<string, Counter.Child> LogOnlyAction,
    Histogram.Child RequestHeadersLatency,
    Histogram.Child RequestBodyLatency,
    Histogram.Child ResponseHeadersLatency,
    Histogram.Child ResponseBodyLatency,
    Histogram.Child RequestTrailersLatency,
    Histogram.Child ResponseTrailersLatency);
