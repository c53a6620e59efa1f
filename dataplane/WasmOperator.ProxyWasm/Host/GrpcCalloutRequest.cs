namespace WasmOperator.ProxyWasm.Host;

/// <summary>A unary gRPC callout (<c>proxy_grpc_call</c>).</summary>
/// <param name="Upstream">The cluster: the plugin's bare cluster name, or <c>envoy_grpc.cluster_name</c> of the <c>GrpcService</c> it passed.</param>
/// <param name="Service">The fully qualified service name.</param>
/// <param name="Method">The method name.</param>
/// <param name="InitialMetadata">Request metadata: the <c>GrpcService</c>'s <c>initial_metadata</c>, then the plugin's.</param>
/// <param name="Message">The serialized request message.</param>
/// <param name="Timeout">The timeout the plugin asked for; zero means none.</param>
public sealed record GrpcCalloutRequest(string Upstream, string Service, string Method, HeaderMap InitialMetadata, byte[] Message, TimeSpan Timeout)
{
    /// <summary>The <c>:authority</c> to send (<c>envoy_grpc.authority</c>); null means the cluster name, as in Envoy.</summary>
    public string? Authority { get; init; }
}
