namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// A reply the plugin asked the proxy to send instead of forwarding (<c>proxy_send_local_response</c>).
/// Header names are lower-cased; the proxy sets content-length itself. A non-null
/// <see cref="GrpcStatus"/> makes it a gRPC reply (HTTP 200, <c>grpc-status</c>, <c>grpc-message</c> = body).
/// </summary>
public sealed record LocalResponse(int StatusCode, string Details, byte[] Body, HeaderMap Headers, int? GrpcStatus);
