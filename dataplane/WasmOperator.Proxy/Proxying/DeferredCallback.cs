using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// A callback a LOG_ONLY plugin would have got while its request-headers pause held the stream, kept for it until it
/// decides (<see cref="StreamHost.TryDefer"/>): the phase, its end_of_stream, and for headers or trailers the map as it
/// passed. A body's bytes wait in the plugin's own copy (<see cref="LogOnlyBody"/>), one entry for all that came.
/// </summary>
internal readonly record struct DeferredCallback(Exchange.Phase Phase, bool EndOfStream, HeaderMap? Map);
