using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.ProxyWasm.Abi;

/// <summary>
/// An open gRPC stream token, owned by the root context: the proxy's stream (null until opened or when
/// unavailable) and whether the plugin half-closed it.
/// </summary>
internal sealed class GrpcStreamEntry
{
    public IGrpcStream? Call { get; set; }

    public bool LocalClosed { get; set; }
}
