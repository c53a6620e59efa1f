namespace WasmOperator.ProxyWasm.Host;

/// <summary>A unary gRPC callout (<c>proxy_grpc_call</c>).</summary>
public sealed record GrpcCalloutRequest(string Upstream, string Service, string Method, HeaderMap InitialMetadata, byte[] Message, TimeSpan Timeout);
