namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// <c>x-forwarded-proto</c> as an Envoy sidecar sets it (<c>use_remote_address: false</c>, Istio's default for
/// sidecars): added with the scheme of the client's connection when the request has none, a value already there kept
/// (an ingress that ended TLS in front of the sidecar said <c>https</c>). The listeners are plain text, so the scheme is
/// <c>http</c>. Added before the plugins run, so they see it as the upstream will.
/// </summary>
internal static class ForwardedProto
{
    public const string Header = "x-forwarded-proto";

    public const string Http = "http";

    /// <summary>The whole field line, for the HTTP/1.1 forwarder's request head.</summary>
    public static ReadOnlySpan<byte> HttpField => "x-forwarded-proto: http\r\n"u8;
}
