using System.Net;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Metrics;

/// <summary>wasm_plugin_traps_total and wasm_plugin_rebuilds_total count what a plugin's VMs did, whichever callback failed.</summary>
public sealed class PluginFailureMetricTests
{
    [Fact]
    public async Task A_trap_in_on_log_is_counted_once_and_named_by_its_callback()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("logtrap", Wat("trap_in_on_log"), "")), o => o.ShardsPerPlugin = 1);

        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("Function: proxy_on_log failed")), "the trap logged");
        Assert.Contains("wasm_plugin_traps_total{plugin=\"default/logtrap\"} 1\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
        Assert.Contains("\"crashes\": 1", await proxy.Admin.GetStringAsync("/config_dump"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_trap_in_on_tick_is_counted()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("ticktrap", Wat("trap_on_tick"), "")), o => o.ShardsPerPlugin = 1);

        // No request comes, so the failed VM is not rebuilt and its tick does not trap again.
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("Function: proxy_on_tick failed")), "the trap logged");
        Assert.Contains("wasm_plugin_traps_total{plugin=\"default/ticktrap\"} 1\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_vm_that_failed_closed_is_counted_when_it_is_rebuilt_and_the_requests_in_its_backoff_are_no_traps()
    {
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("trap", Wat("trap_on_path"), "", extra: "failStrategy: FAIL_CLOSE")), o => o.ShardsPerPlugin = 1);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await proxy.GetAsync("/trap")).Response.StatusCode);

        // Requests in the backoff find no healthy VM (503); the first after it rebuilds the VM.
        await ProxyHarness.EventuallyAsync(async () => (await proxy.GetAsync("/fine")).Response.StatusCode == HttpStatusCode.OK, "the rebuilt VM serves");
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_traps_total{plugin=\"default/trap\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("wasm_plugin_rebuilds_total{plugin=\"default/trap\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("wasm_plugin_reload_retries_total{plugin=\"default/trap\"} 0\n", metrics, StringComparison.Ordinal);
    }
}
