using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy.Proxying;

/// <summary>What a plugin did to a paused stream from outside a callback (after a callout, say).</summary>
internal sealed record StreamSignal(StreamSignalKind Kind, LocalResponse? Reply = null, PluginFailure? Failure = null)
{
    public static StreamSignal Continue { get; } = new(StreamSignalKind.Continue);

    public static StreamSignal Close { get; } = new(StreamSignalKind.Close);

    public static StreamSignal TimedOut { get; } = new(StreamSignalKind.TimedOut);
}
