namespace WasmOperator.ProxyWasm.Host;

/// <summary>A streaming gRPC callout (<c>proxy_grpc_stream</c>): messages follow through <see cref="IGrpcStream.Send"/>.</summary>
public sealed record GrpcStreamRequest(string Upstream, string Service, string Method, HeaderMap InitialMetadata);
