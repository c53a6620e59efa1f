using Prometheus;

namespace WasmOperator.Proxy.Metrics;

/// <summary>One plugin's metric children; the ones every request changes kept in striped cells (see <see cref="StripedCount"/>).</summary>
internal sealed record PluginMetrics(
    StripedCount Requests,
    Counter.Child Traps,
    Counter.Child Rebuilds,
    Counter.Child ReloadRetries,
    Counter.Child FailOpen,
    Counter.Child FailClosed,
    Func<string, Counter.Child> LogOnlyAction,
    StripedHistogram RequestHeadersLatency,
    StripedHistogram RequestBodyLatency,
    StripedHistogram ResponseHeadersLatency,
    StripedHistogram ResponseBodyLatency,
    StripedHistogram RequestTrailersLatency,
    StripedHistogram ResponseTrailersLatency,
    StripedHistogram StreamEndLatency);
