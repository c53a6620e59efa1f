namespace WasmOperator.ProxyWasm.Host;

/// <summary>An HTTP callout (<c>proxy_http_call</c>) to a named upstream (cluster).</summary>
/// <param name="Upstream">The upstream/cluster name the plugin passed.</param>
/// <param name="Headers">Request headers, including <c>:method</c>, <c>:path</c> and <c>:authority</c>.</param>
/// <param name="Body">Request body.</param>
/// <param name="Trailers">Request trailers.</param>
/// <param name="Timeout">Timeout the plugin asked for.</param>
public sealed record HttpCalloutRequest(string Upstream, HeaderMap Headers, byte[] Body, HeaderMap Trailers, TimeSpan Timeout);
