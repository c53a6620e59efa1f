using System.Net;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Admin;

/// <summary>/ready reports whether the proxy can serve traffic.</summary>
public sealed class ReadinessTests
{
    private const string MissingModule = "/nonexistent/authz.wasm";

    [Fact]
    public async Task Not_ready_while_a_fail_close_plugin_of_the_serving_set_failed_to_load()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", MissingModule, "authz")));

        var ready = await proxy.Admin.GetAsync("/ready");
        var reason = await ready.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("default/authz", reason, StringComparison.Ordinal);
        Assert.Contains("FAIL_CLOSE", reason, StringComparison.Ordinal);
        Assert.Contains(MissingModule, reason, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await proxy.GetAsync("/")).Response.StatusCode);

        // A set that loads replaces it: ready again.
        await proxy.WritePluginsAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "x")));
        await ProxyHarness.EventuallyAsync(async () => (await proxy.Admin.GetAsync("/ready")).StatusCode == HttpStatusCode.OK, "ready after a good set");
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/")).Response.StatusCode);
    }

    [Fact]
    public async Task Ready_when_the_plugin_that_failed_to_load_selects_only_some_ports()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", MissingModule, "authz", extra: "match:\n- ports:\n  - number: 9999")));

        Assert.Equal("ready\n", await proxy.Admin.GetStringAsync("/ready"));
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/")).Response.StatusCode);
    }

    [Fact]
    public async Task Ready_when_the_plugin_that_failed_to_load_fails_open()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", MissingModule, "authz", extra: "failStrategy: FAIL_OPEN")));

        Assert.Equal("ready\n", await proxy.Admin.GetStringAsync("/ready"));
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/")).Response.StatusCode);
    }
}
