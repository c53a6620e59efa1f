namespace WasmOperator.ProxyWasm.Host;

/// <summary>The answer to a unary gRPC callout: gRPC status, message and trailing metadata.</summary>
public sealed record GrpcCalloutResponse(int Status, string StatusMessage, byte[]? Message, HeaderMap InitialMetadata, HeaderMap TrailingMetadata);
