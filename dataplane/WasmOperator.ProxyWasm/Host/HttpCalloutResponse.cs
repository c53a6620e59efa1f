namespace WasmOperator.ProxyWasm.Host;

/// <summary>The answer to an HTTP callout; <paramref name="Headers"/> carries <c>:status</c>.</summary>
public sealed record HttpCalloutResponse(HeaderMap Headers, byte[] Body, HeaderMap Trailers);
