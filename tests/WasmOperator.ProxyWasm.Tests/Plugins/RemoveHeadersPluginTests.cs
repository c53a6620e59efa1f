using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Plugins;

public class RemoveHeadersPluginTests
{
    [Fact]
    public void Remove_headers_drops_response_headers_with_a_configured_prefix()
    {
        var runtime = SharedRuntime.Instance;
        using var plugin = runtime.LoadPlugin(runtime.Compile(TestModules.Plugin("remove_headers")),
            new PluginOptions { Name = "rm", RootId = "remove_headers", Shards = 1, Configuration = "x-internal-, server"u8.ToArray() },
            new TestPluginHost());
        var request = new TestStreamHost();
        request.ResponseHeaders.Add("X-Internal-Trace", "1");
        request.ResponseHeaders.Add("x-internal-id", "2");
        request.ResponseHeaders.Add("server", "kestrel");
        request.ResponseHeaders.Add("content-type", "text/plain");
        using var stream = plugin.CreateHttpStream(request);

        stream.OnRequestHeaders(true);
        Assert.Equal(FilterStatus.Continue, stream.OnResponseHeaders(true).Status);

        Assert.Equal([":status", "content-type"], request.ResponseHeaders.Entries.Select(e => e.Key));
    }
}
