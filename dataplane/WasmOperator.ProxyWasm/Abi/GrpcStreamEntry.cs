using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.ProxyWasm.Abi;

/// <summary>
/// An open gRPC stream token: the stream context that opened it (null for the root context), the proxy's
/// stream (null until opened or when unavailable) and whether the plugin half-closed it.
/// </summary>
internal sealed class GrpcStreamEntry(StreamContext? owner)
{
    public StreamContext? Owner { get; } = owner;

    public IGrpcStream? Call { get; set; }

    public bool LocalClosed { get; set; }
}
