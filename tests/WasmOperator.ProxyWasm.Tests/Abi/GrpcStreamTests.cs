using WasmOperator.ProxyWasm.Check;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

public class GrpcStreamTests
{
    // Hex digits in the logs are hostcall results (0 OK, 1 NOT_FOUND, 2 BAD_ARGUMENT) and close statuses (e = 14 UNAVAILABLE).

    [Fact]
    public async Task A_grpc_stream_sends_messages_and_delivers_metadata_messages_trailers_and_close_to_the_root()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new StreamingPluginHost();
        using var plugin = Load(runtime, host);
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        stream.OnRequestHeaders(true);

        Assert.True(await host.Inner.WaitForLogAsync(m => m == "done"));
        Assert.Equal(["0", "0", "0", "1", "1", "r1", "r2", "tv", "0", "done"], host.Inner.Messages());
        Assert.Equal(["send m1 False", "send m2 True"], host.Calls);
        var opened = Assert.Single(host.Opened);
        Assert.Equal(("grpc-cluster", "pkg.Svc", "Watch", "v"), (opened.Upstream, opened.Service, opened.Method, opened.InitialMetadata.Get("k")));
    }

    [Fact]
    public async Task A_grpc_stream_to_an_unknown_upstream_closes_with_status_unavailable()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new StreamingPluginHost();
        using var plugin = Load(runtime, host);
        using var unused = plugin.CreateHttpStream(new TestStreamHost());
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        stream.OnRequestHeaders(true);

        Assert.True(await host.Inner.WaitForLogAsync(m => m == "unavailable"));
        Assert.Equal(["0", "e", "unavailable"], host.Inner.Messages());
        Assert.Equal("nowhere", Assert.Single(host.Opened).Upstream);
    }

    [Fact]
    public void Cancelling_a_grpc_stream_tells_the_proxy_once_and_a_second_cancel_is_not_found()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new StreamingPluginHost();
        using var plugin = Load(runtime, host);
        using var second = plugin.CreateHttpStream(new TestStreamHost());
        using var third = plugin.CreateHttpStream(new TestStreamHost());
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        stream.OnRequestHeaders(true);

        Assert.Equal(["0", "0", "1"], host.Inner.Messages());
        Assert.Equal(["cancel"], host.Calls);
    }

    [Fact]
    public async Task Closing_a_grpc_stream_half_closes_it_refuses_further_sends_and_still_delivers_the_remote_close()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new StreamingPluginHost();
        using var plugin = Load(runtime, host);
        using var second = plugin.CreateHttpStream(new TestStreamHost());
        using var third = plugin.CreateHttpStream(new TestStreamHost());
        using var fourth = plugin.CreateHttpStream(new TestStreamHost());
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        stream.OnRequestHeaders(true);

        Assert.True(await host.Inner.WaitForLogAsync(m => m == "closed"));
        Assert.Equal(["0", "0", "2", "0", "closed"], host.Inner.Messages());
        Assert.Equal(["close"], host.Calls);
    }

    [Fact]
    public async Task A_proxy_without_grpc_streaming_closes_every_stream_with_status_unavailable()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost(); // does not implement OpenGrpcStream: the interface default applies
        using var plugin = Load(runtime, host);
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        stream.OnRequestHeaders(true);

        Assert.True(await host.WaitForLogAsync(m => m == "unavailable"));
        // open OK; both sends refused (BAD_ARGUMENT: no stream to send on); unknown token NOT_FOUND.
        Assert.Equal(["0", "2", "2", "1", "e", "unavailable"], host.Messages());
    }

    [Fact]
    public async Task The_seven_parameter_grpc_stream_of_proxy_runtime_opens_a_stream_without_metadata()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new StreamingPluginHost();
        var module = runtime.Compile(TestModules.Wat("grpc_stream_no_metadata"));
        using var plugin = runtime.LoadPlugin(module, new PluginOptions { Name = "grpc-stream", Shards = 1 }, host);
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        stream.OnRequestHeaders(true);

        Assert.True(await host.Inner.WaitForLogAsync(m => m == "done"));
        Assert.Equal(["r1", "r2", "done"], host.Inner.Messages());
        Assert.Equal(0, Assert.Single(host.Opened).InitialMetadata.Count);
        Assert.Equal(["send m1 True"], host.Calls);
        var report = ModuleChecker.Check(runtime, TestModules.Wat("grpc_stream_no_metadata"), []);
        Assert.Contains("env.proxy_grpc_stream", report.ProvidedImports);
        Assert.DoesNotContain("env.proxy_grpc_stream", report.MismatchedImports);
    }

    private static ProxyWasmPlugin Load(ProxyWasmRuntime runtime, WasmOperator.ProxyWasm.Host.IPluginHost host) =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("grpc_stream")), new PluginOptions { Name = "grpc-stream", Shards = 1 }, host);
}
