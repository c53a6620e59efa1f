namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// What the proxy reports for an open gRPC stream. May be called on any thread, also from inside
/// <see cref="IPluginHost.OpenGrpcStream"/> or <see cref="IGrpcStream.Send"/>: each event is queued and
/// delivered to the root context that opened the stream after the current VM call, in order.
/// </summary>
public interface IGrpcStreamEvents
{
    /// <summary>The response headers arrived (<c>proxy_on_grpc_receive_initial_metadata</c>).</summary>
    void OnInitialMetadata(HeaderMap metadata);

    /// <summary>One response message arrived (<c>proxy_on_grpc_receive</c>).</summary>
    void OnMessage(byte[] message);

    /// <summary>The trailers arrived (<c>proxy_on_grpc_receive_trailing_metadata</c>).</summary>
    void OnTrailingMetadata(HeaderMap metadata);

    /// <summary>The stream ended with gRPC <paramref name="status"/> (<c>proxy_on_grpc_close</c>); nothing follows.</summary>
    void OnClose(int status, string message);
}
