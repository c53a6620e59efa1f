using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Benchmarks;

internal sealed class BenchmarkPluginHost : IPluginHost
{
    public Task<HttpCalloutResponse> SendHttpCalloutAsync(HttpCalloutRequest request, CancellationToken cancellationToken) =>
        Task.FromException<HttpCalloutResponse>(new InvalidOperationException("no callouts in benchmarks"));

    public Task<GrpcCalloutResponse> SendGrpcCalloutAsync(GrpcCalloutRequest request, CancellationToken cancellationToken) =>
        Task.FromException<GrpcCalloutResponse>(new InvalidOperationException("no callouts in benchmarks"));

    public bool TryGetProperty(string path, out byte[] value)
    {
        value = [];
        return false;
    }

    public void Log(ProxyLogLevel level, string message)
    {
    }
}
