using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

/// <summary>
/// A unary gRPC call is answered with exactly one callback on the root context, as Envoy's
/// <c>GrpcCallClientHandler</c> does: <c>proxy_on_grpc_receive</c> for status OK with a message, otherwise
/// <c>proxy_on_grpc_close</c>; never the metadata callbacks, which belong to gRPC streams.
/// </summary>
public class CalloutTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static GrpcCalloutResponse Reply(int status, string message, byte[]? reply)
    {
        var initial = new HeaderMap();
        initial.Add("a", "b");
        var trailing = new HeaderMap();
        trailing.Add("c", "d");
        return new GrpcCalloutResponse(status, message, reply, initial, trailing);
    }

    private static async Task<List<string>> CallAsync(Func<GrpcCalloutRequest, Task<GrpcCalloutResponse>>? handler, Action<GrpcCalloutRequest>? seen = null)
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        if (handler is not null)
        {
            host.GrpcHandler = async request =>
            {
                seen?.Invoke(request);
                await Task.Yield();
                return await handler(request);
            };
        }

        using var plugin = runtime.LoadPlugin(runtime.Compile(TestModules.Wat("grpc_call")), new PluginOptions { Name = "grpc", Shards = 1 }, host);
        var request = new TestStreamHost();
        using var stream = plugin.CreateHttpStream(request);

        Assert.Equal(FilterStatus.Pause, stream.OnRequestHeaders(true).Status);

        Assert.Equal("continue", await request.Resumed.WaitAsync(Bound));
        return host.Messages();
    }

    [Fact]
    public async Task A_unary_call_answered_ok_with_a_message_gets_only_on_grpc_receive()
    {
        GrpcCalloutRequest? seen = null;

        var callbacks = await CallAsync(_ => Task.FromResult(Reply(0, "all good", "pong"u8.ToArray())), r => seen = r);

        Assert.Equal(("grpc-cluster", "pkg.Svc", "Check"), (seen?.Upstream, seen?.Service, seen?.Method));
        Assert.Equal("ping"u8.ToArray(), seen?.Message);
        Assert.Equal(["receive pong"], callbacks);
    }

    [Fact]
    public async Task A_unary_call_answered_with_an_error_gets_only_on_grpc_close_even_with_a_message()
    {
        var callbacks = await CallAsync(_ => Task.FromResult(Reply(7, "denied", "pong"u8.ToArray())));

        Assert.Equal(["close 7 denied"], callbacks);
    }

    [Fact]
    public async Task A_unary_call_answered_ok_without_a_message_closes_with_internal()
    {
        // Envoy Grpc::AsyncRequestImpl::onRemoteClose: OK with no response message is onFailure(Internal, "").
        var callbacks = await CallAsync(_ => Task.FromResult(Reply(0, "all good", null)));

        Assert.Equal(["close 13 "], callbacks);
    }

    [Fact]
    public async Task A_failed_grpc_callout_closes_with_status_unavailable()
    {
        var callbacks = await CallAsync(null); // the default handler faults

        Assert.Equal(["close 14 unavailable"], callbacks);
    }
}
