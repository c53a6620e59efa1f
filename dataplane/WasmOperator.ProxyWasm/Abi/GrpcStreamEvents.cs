using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;

namespace WasmOperator.ProxyWasm.Abi;

/// <summary>Queues a gRPC stream's events for delivery to the root context of the shard generation that opened it.</summary>
internal sealed class GrpcStreamEvents(PluginShard shard, int generation, int token) : IGrpcStreamEvents
{
    public void OnInitialMetadata(HeaderMap metadata) =>
        shard.Post(generation, abi => abi.DeliverGrpcStreamMetadata(token, metadata, trailing: false));

    public void OnMessage(byte[] message) =>
        shard.Post(generation, abi => abi.DeliverGrpcStreamMessage(token, message));

    public void OnTrailingMetadata(HeaderMap metadata) =>
        shard.Post(generation, abi => abi.DeliverGrpcStreamMetadata(token, metadata, trailing: true));

    public void OnClose(int status, string message) =>
        shard.Post(generation, abi => abi.DeliverGrpcStreamClose(token, status, message));
}
