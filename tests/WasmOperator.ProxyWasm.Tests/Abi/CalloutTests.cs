using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

public class CalloutTests
{
    [Fact]
    public async Task A_unary_grpc_callout_delivers_metadata_message_and_close_to_the_root_then_resumes_the_stream()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        GrpcCalloutRequest? seen = null;
        host.GrpcHandler = async request =>
        {
            seen = request;
            await Task.Yield();
            var initial = new HeaderMap();
            initial.Add("a", "b");
            var trailing = new HeaderMap();
            trailing.Add("c", "d");
            return new GrpcCalloutResponse(0, "all good", "pong"u8.ToArray(), initial, trailing);
        };
        using var plugin = runtime.LoadPlugin(runtime.Compile(TestModules.Wat("grpc_call")), new PluginOptions { Name = "grpc", Shards = 1 }, host);
        var request = new TestStreamHost();
        using var stream = plugin.CreateHttpStream(request);

        Assert.Equal(FilterStatus.Pause, stream.OnRequestHeaders(true).Status);

        Assert.Equal("continue", await request.Resumed.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(("grpc-cluster", "pkg.Svc", "Check"), (seen?.Upstream, seen?.Service, seen?.Method));
        Assert.Equal("ping"u8.ToArray(), seen?.Message);
        Assert.Equal(["initial", "pong", "trailing", "all good"], host.Messages());
    }

    [Fact]
    public async Task A_failed_grpc_callout_closes_with_status_unavailable()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost(); // the default handler faults
        using var plugin = runtime.LoadPlugin(runtime.Compile(TestModules.Wat("grpc_call")), new PluginOptions { Name = "grpc", Shards = 1 }, host);
        var request = new TestStreamHost();
        using var stream = plugin.CreateHttpStream(request);

        stream.OnRequestHeaders(true);

        Assert.Equal("continue", await request.Resumed.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["unavailable"], host.Messages());
    }
}
