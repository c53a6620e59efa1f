using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// An HTTP/2 upstream that resets a call after its response started: the client's stream is reset with INTERNAL_ERROR,
/// which gRPC clients read as INTERNAL, with or without plugins. Without plugins YARP reset it with CANCEL, which
/// grpc-dotnet and grpc-go report as CANCELLED, the status of a call the client itself gave up on (and that error-rate
/// SLOs leave out). Envoy resets it with NO_ERROR, which gRPC maps to INTERNAL too.
/// </summary>
public sealed class UpstreamResetTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_grpc_call_its_upstream_resets_mid_response_is_reset_with_internal_error(bool plugin)
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(plugin ? Yaml(Plugin("pass", Wat("pass_through"), "pass")) : "plugins: []\n",
            o => o.Clusters[ProxyOptions.DefaultCluster] = grpc.Address);

        var reply = await RawHttp.SendH2Async(
            proxy.Server.Options.H2cPort,
            [(":method", "POST"), (":scheme", "http"), (":path", "/test.Echo/FailMidResponse"), (":authority", "app"), ("content-type", "application/grpc"), ("te", "trailers")],
            GrpcUpstream.Frame("ping"));

        Assert.Equal(200, reply.Status);
        Assert.Equal(2, reply.ResetCode); // INTERNAL_ERROR, not CANCEL (8)
        Assert.Contains("proxy_downstream_resets_total 0", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }
}
