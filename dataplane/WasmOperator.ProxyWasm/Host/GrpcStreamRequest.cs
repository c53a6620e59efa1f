namespace WasmOperator.ProxyWasm.Host;

/// <summary>A streaming gRPC callout (<c>proxy_grpc_stream</c>): messages follow through <see cref="IGrpcStream.Send"/>.</summary>
/// <param name="Upstream">The cluster, as for <see cref="GrpcCalloutRequest.Upstream"/>.</param>
/// <param name="Service">The fully qualified service name.</param>
/// <param name="Method">The method name.</param>
/// <param name="InitialMetadata">Request metadata: the <c>GrpcService</c>'s <c>initial_metadata</c>, then the plugin's.</param>
public sealed record GrpcStreamRequest(string Upstream, string Service, string Method, HeaderMap InitialMetadata)
{
    /// <summary>The <c>:authority</c> to send (<c>envoy_grpc.authority</c>); null means the cluster name, as in Envoy.</summary>
    public string? Authority { get; init; }
}
