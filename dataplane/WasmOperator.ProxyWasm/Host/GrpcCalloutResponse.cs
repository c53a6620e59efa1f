namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// The answer to a unary gRPC callout: gRPC status and message, the response message (null if none came) and the
/// metadata. The plugin gets the message when the status is OK, otherwise the status; the metadata are not
/// delivered for unary calls (Envoy), only for streams.
/// </summary>
public sealed record GrpcCalloutResponse(int Status, string StatusMessage, byte[]? Message, HeaderMap InitialMetadata, HeaderMap TrailingMetadata);
