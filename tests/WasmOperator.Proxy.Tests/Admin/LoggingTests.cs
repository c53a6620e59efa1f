using System.Net;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Admin;

/// <summary>Envoy's <c>/logging</c> for the <c>wasm</c> component: plugin debug lines on demand, without a reload.</summary>
public sealed class LoggingTests
{
    [Fact]
    public async Task Plugin_debug_lines_appear_once_the_wasm_level_is_lowered_and_stop_when_it_is_raised()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "x")));
        static bool Debug(string line) => line.Contains("wasm log default/add: context id: ", StringComparison.Ordinal) && line.EndsWith(": onDone()", StringComparison.Ordinal);

        await proxy.GetAsync("/");
        Assert.Equal("active loggers:\n  wasm: info\n", await proxy.Admin.GetStringAsync("/logging"));
        Assert.DoesNotContain(proxy.Logs.Lines, Debug);

        using (var lowered = await proxy.Admin.PostAsync("/logging?wasm=debug", null))
        {
            Assert.Equal(HttpStatusCode.OK, lowered.StatusCode);
            Assert.Equal("active loggers:\n  wasm: debug\n", await lowered.Content.ReadAsStringAsync());
        }

        // The SDK (proxy-runtime) logs each callback at debug: the same VMs, no reload.
        await proxy.GetAsync("/");
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Lines.Any(Debug)), "the plugin's debug lines");
        Assert.Contains("\"reused\": false", await proxy.Admin.GetStringAsync("/config_dump"), StringComparison.Ordinal);
        Assert.Contains("\"chainRevision\": 1", await proxy.Admin.GetStringAsync("/config_dump"), StringComparison.Ordinal);

        using (var raised = await proxy.Admin.PostAsync("/logging?level=warning", null))
        {
            Assert.Equal("active loggers:\n  wasm: warning\n", await raised.Content.ReadAsStringAsync());
        }

        var before = proxy.Logs.Lines.Count(Debug);
        await proxy.GetAsync("/");
        await proxy.GetAsync("/");
        Assert.Equal(before, proxy.Logs.Lines.Count(Debug));
    }

    [Theory]
    [InlineData("/logging?wasm=loud", "'loud' is not a log level (trace, debug, info, warning, error, critical, off)\n")]
    [InlineData("/logging?http=debug", "unknown log component 'http': the proxy has one, wasm (or level=, every component)\n")]
    [InlineData("/logging", "usage: POST /logging?wasm=<level> (or ?level=<level>)\n")]
    public async Task A_bad_request_is_refused_and_changes_nothing(string path, string message)
    {
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n");

        using var refused = await proxy.Admin.PostAsync(path, null);

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal(message, await refused.Content.ReadAsStringAsync());
        Assert.Equal("active loggers:\n  wasm: info\n", await proxy.Admin.GetStringAsync("/logging"));
    }

    [Fact]
    public async Task Level_off_is_taken_and_the_plugin_lines_stop()
    {
        // 'off' was refused, though Envoy and istioctl take it.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "x")));
        static bool PluginLine(string line) => line.Contains("wasm log default/add", StringComparison.Ordinal);
        using (var trace = await proxy.Admin.PostAsync("/logging?wasm=trace", null))
        {
            Assert.Equal(HttpStatusCode.OK, trace.StatusCode);
        }

        await proxy.GetAsync("/");
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Lines.Any(PluginLine)), "the plugin's trace lines");

        using var off = await proxy.Admin.PostAsync("/logging?wasm=off", null);

        Assert.Equal(HttpStatusCode.OK, off.StatusCode);
        Assert.Equal("active loggers:\n  wasm: off\n", await off.Content.ReadAsStringAsync());
        var before = proxy.Logs.Lines.Count(PluginLine);
        await proxy.GetAsync("/");
        await proxy.GetAsync("/");
        Assert.Equal(before, proxy.Logs.Lines.Count(PluginLine));
    }

    [Fact]
    public async Task A_get_asking_for_a_change_is_refused_saying_to_post_and_changes_nothing()
    {
        // GET /logging?wasm=trace answered 200 with the levels, unchanged, as if it had worked.
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n");

        using var refused = await proxy.Admin.GetAsync("/logging?wasm=trace");

        Assert.Equal(HttpStatusCode.MethodNotAllowed, refused.StatusCode);
        Assert.Equal("POST", refused.Content.Headers.Allow.Single());
        Assert.Equal("GET /logging only shows the levels and changed nothing: to change one, POST /logging?wasm=trace (as Envoy's /logging requires)\n",
            await refused.Content.ReadAsStringAsync());
        Assert.Equal("active loggers:\n  wasm: info\n", await proxy.Admin.GetStringAsync("/logging"));
    }
}
