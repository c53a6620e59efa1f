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
    public void A_callback_after_the_stream_completed_fails_without_calling_the_plugin()
    {
        var pluginHost = new TestPluginHost();
        using var plugin = Load(pluginHost);
        var request = new TestStreamHost();
        using var stream = plugin.CreateHttpStream(request);
        stream.OnRequestHeaders(endOfStream: true);
        stream.Complete();

        // The context was deleted: the plugin, which no longer knows it (the SDK traps on its id, and the shard had to be
        // rebuilt), is not asked, and the response is not touched.
        Assert.Equal(FilterStatus.Failed, stream.OnResponseHeaders(endOfStream: true).Status);
        Assert.Equal(1, plugin.HealthyShards);
        Assert.Null(request.ResponseHeaders.Get("hello"));
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

    // The configuration as a WasmPlugin's pluginConfig object arrives (JSON text), read by examples/plugins/lib/json.ts.

    [Fact]
    public void Add_header_reads_a_json_object_with_escapes_and_skips_members_it_does_not_use()
    {
        const string configuration = """
            { "note": {"a": [1, -2.5e3, {"b": null}], "c": true, "d": "}]"},
              "header" : "x-a",
              "value": "caf\u00e9 \"q\" \ud83d\ude00 \\ \/ end", "other": [] }
            """;
        using var plugin = Load(new TestPluginHost(), configuration);
        var request = new TestStreamHost();
        using var stream = plugin.CreateHttpStream(request);

        stream.OnRequestHeaders(true);
        stream.OnResponseHeaders(true);

        // The plugin writes the value as UTF-8; header values are bytes, which the host holds one char per byte.
        Assert.Equal(Encoding.Latin1.GetString(Encoding.UTF8.GetBytes("café \"q\" 😀 \\ / end")), request.ResponseHeaders.Get("x-a"));
        Assert.Null(request.ResponseHeaders.Get("hello"));
    }

    [Theory]
    [InlineData("[\"x\"]")]
    [InlineData("\"quoted\"")]
    [InlineData("plain, {not} json")]
    public void A_configuration_that_is_not_a_json_object_is_still_the_header_value(string configuration)
    {
        using var plugin = Load(new TestPluginHost(), configuration);
        var request = new TestStreamHost();
        using var stream = plugin.CreateHttpStream(request);

        stream.OnRequestHeaders(true);
        stream.OnResponseHeaders(true);

        Assert.Equal(configuration, request.ResponseHeaders.Get("hello"));
    }

    [Theory]
    [InlineData("{\"header\": \"x\", }", "expected a member name in double quotes at character 17")]
    [InlineData("{\"header\": \"x\"", "expected ',' or '}' at character 15")]
    [InlineData("{\"value\": 01}", "expected ',' or '}' at character 12")]
    [InlineData("{\"value\": \"a\tb\"}", "control character in a string (escape it) at character 13")]
    [InlineData("{\"value\": \"\\x\"}", "invalid escape in a string at character 13")]
    [InlineData("{\"value\": \"a\"} x", "text after the closing '}' at character 16")]
    [InlineData("{\"value\": tru}", "expected a value at character 11")]
    public void A_configuration_that_starts_as_a_json_object_but_is_not_one_is_refused_with_where(string configuration, string expected)
    {
        var error = Assert.Throws<PluginLoadException>(() => Load(new TestPluginHost(), configuration));

        Assert.True(error.ConfigurationRejected);
        Assert.Contains("the plugin logged: add_header: configuration is not valid JSON: " + expected, error.Message, StringComparison.Ordinal);
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
