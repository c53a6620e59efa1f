namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// An open streaming gRPC callout, implemented by the proxy (<see cref="IPluginHost.OpenGrpcStream"/>).
/// Methods are called under the plugin's VM lock and must not block; they must not call back into the VM.
/// </summary>
public interface IGrpcStream
{
    /// <summary>Sends one message (<c>proxy_grpc_send</c>); <paramref name="endOfStream"/> half-closes the local side.</summary>
    void Send(byte[] message, bool endOfStream);

    /// <summary>Half-closes the local side (<c>proxy_grpc_close</c>); responses keep arriving until the remote close.</summary>
    void Close();

    /// <summary>Resets the stream (<c>proxy_grpc_cancel</c>); no further events are delivered.</summary>
    void Cancel();
}
