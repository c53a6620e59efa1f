using System.Text;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Plugins;

public class AddHeaderPluginTests
{
    // The SDK's per-callback debug lines are what these tests read: a runtime of their own that passes every level.
    private static readonly ProxyWasmRuntime Tracing = new(new ProxyWasmRuntimeOptions { PluginLogLevel = ProxyLogLevel.Trace });

    private static ProxyWasmPlugin Load(TestPluginHost host, string configuration = "", int shards = 1) =>
        Tracing.LoadPlugin(
            Tracing.Compile(TestModules.Plugin("add_header")),
            new PluginOptions { Name = "add-header", RootId = "add_header", Shards = shards, Configuration = Encoding.UTF8.GetBytes(configuration) },
            host);

    [Fact]
    public void Add_header_runs_a_full_request_lifecycle_and_adds_hello_world_to_the_response()
    {
        var pluginHost = new TestPluginHost();
        using var plugin = Load(pluginHost);
        var request = new TestStreamHost();
        using var stream = plugin.CreateHttpStream(request);

        Assert.Equal(FilterStatus.Continue, stream.OnRequestHeaders(endOfStream: true).Status);
        Assert.Equal(FilterStatus.Continue, stream.OnResponseHeaders(endOfStream: true).Status);
        stream.Complete();

        Assert.Equal("world!", request.ResponseHeaders.Get("hello"));
        var messages = pluginHost.Messages();
        Assert.Contains(messages, m => m.Contains($"context id: {stream.ContextId}: onDone()", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains($"context id: {stream.ContextId}: onLog()", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains($"context id: {stream.ContextId}: onDelete()", StringComparison.Ordinal));
        Assert.True(messages.FindIndex(m => m.EndsWith(": onLog()", StringComparison.Ordinal)) <
                    messages.FindIndex(m => m.EndsWith($"{stream.ContextId}: onDelete()", StringComparison.Ordinal)));
    }

    [Fact]
    public void Add_header_uses_its_configuration_as_the_header_value()
    {
        using var plugin = Load(new TestPluginHost(), "from-config");
        var request = new TestStreamHost();
        using var stream = plugin.CreateHttpStream(request);

        stream.OnRequestHeaders(true);
        stream.OnResponseHeaders(true);

        Assert.Equal("from-config", request.ResponseHeaders.Get("hello"));
    }

    [Fact]
    public void Stream_context_ids_are_never_reused_on_a_shard()
    {
        using var plugin = Load(new TestPluginHost());
        var ids = new HashSet<int>();
        for (var i = 0; i < 5; i++)
        {
            using var stream = plugin.CreateHttpStream(new TestStreamHost());
            stream.OnRequestHeaders(true);
            stream.Complete();
            Assert.True(ids.Add(stream.ContextId));
        }

        Assert.DoesNotContain(1, ids); // 1 is the root context
    }

    [Fact]
    public void A_root_id_the_module_does_not_register_fails_the_load_with_a_precise_error()
    {
        var module = SharedRuntime.Instance.Compile(TestModules.Plugin("add_header"));
        var error = Assert.Throws<WasmOperator.ProxyWasm.Runtime.PluginLoadException>(() =>
            SharedRuntime.Instance.LoadPlugin(module, new PluginOptions { Name = "x", RootId = "nope", Shards = 1 }, new TestPluginHost()));
        Assert.Contains("nope", error.Message, StringComparison.Ordinal);
        // The SDK's own reason, which it logs before it aborts: the failure alone reads proc_exit(255).
        Assert.Contains("the plugin logged: Missing root context factory for root id: nope", error.Message, StringComparison.Ordinal);
        Assert.False(error.ConfigurationRejected);
    }
}
