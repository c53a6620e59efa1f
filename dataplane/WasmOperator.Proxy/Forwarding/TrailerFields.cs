namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// Fields a trailer section must not carry on to the next hop, either way: the connection-specific ones, which an
/// HTTP/2 peer takes for a malformed message and resets the stream over (RFC 9113 §8.2.2; curl and nghttp2 then lose a
/// response that was complete), and the framing and routing fields a trailer cannot change (Content-Length, Host:
/// RFC 9110 §6.5.1). An HTTP/1.1 peer may send them in its chunked trailers; they are dropped, as Envoy's codec drops them.
/// </summary>
internal static class TrailerFields
{
    public static bool IsForbidden(string name) =>
        Http1ResponseHead.IsHopByHop(name) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("Host", StringComparison.OrdinalIgnoreCase);
}
