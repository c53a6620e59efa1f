using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy.Proxying;

/// <summary>What a plugin did to a stream from outside a callback (after a callout, say), paused or not.</summary>
internal sealed record StreamSignal(StreamSignalKind Kind, LocalResponse? Reply = null, PluginFailure? Failure = null, bool? Request = null)
{
    /// <summary>Resumes the request (<c>proxy_continue_stream(0)</c>) or the response (1); it does nothing to the other direction, as in Envoy.</summary>
    public static StreamSignal ContinueRequest { get; } = new(StreamSignalKind.Continue, Request: true);

    public static StreamSignal ContinueResponse { get; } = new(StreamSignalKind.Continue, Request: false);

    public static StreamSignal Close { get; } = new(StreamSignalKind.Close);

    public static StreamSignal TimedOut { get; } = new(StreamSignalKind.TimedOut);

    public static StreamSignal Ended { get; } = new(StreamSignalKind.Ended);
}
