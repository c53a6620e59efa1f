using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Benchmarks;

/// <summary>A reusable stream host, as a proxy would pool it: maps are reset, not reallocated.</summary>
internal sealed class BenchmarkStreamHost : IHttpStreamHost
{
    public HeaderMap RequestHeaders { get; } = new(32);

    public HeaderMap ResponseHeaders { get; } = new(8);

    public HeaderMap? GetHeaderMap(MapType type) => type switch
    {
        MapType.RequestHeaders => RequestHeaders,
        MapType.ResponseHeaders => ResponseHeaders,
        _ => null,
    };

    public BodyBuffer? GetBody(BufferType type) => null;

    public bool TryGetProperty(string path, out byte[] value)
    {
        value = [];
        return false;
    }

    public bool TrySetProperty(string path, ReadOnlySpan<byte> value) => false;

    public void ContinueStream(StreamType type)
    {
    }

    public void CloseStream(StreamType type)
    {
    }

    public void SendLocalResponse(LocalResponse response)
    {
    }

    public void OnPluginFailure(PluginFailure failure)
    {
    }
}
