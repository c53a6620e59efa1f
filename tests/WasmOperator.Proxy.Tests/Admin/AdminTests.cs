using System.Net;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Admin;

/// <summary>The admin listener and graceful shutdown.</summary>
public sealed class AdminTests
{
    [Fact]
    public async Task Admin_port_answers_ready_healthz_config_dump_and_prometheus_stats()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "x", "phase: STATS\npriority: 3")));
        await proxy.GetAsync("/");

        Assert.Equal("ready\n", await proxy.Admin.GetStringAsync("/ready"));
        Assert.Equal("ok\n", await proxy.Admin.GetStringAsync("/healthz"));
        var dump = await proxy.Admin.GetStringAsync("/config_dump");
        Assert.Contains("\"name\": \"add\"", dump, StringComparison.Ordinal);
        Assert.Contains("\"state\": \"Loaded\"", dump, StringComparison.Ordinal);
        Assert.Contains("\"moduleDigest\": \"sha256:", dump, StringComparison.Ordinal);
        Assert.Contains("\"healthy\": 2", dump, StringComparison.Ordinal);
        Assert.Contains("\"chainRevision\": 1", dump, StringComparison.Ordinal);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_requests_total{plugin=\"default/add\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("wasm_plugin_callback_duration_seconds_count{plugin=\"default/add\",callback=\"response_headers\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_requests_total{code=\"2xx\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("process_cpu_seconds_total ", metrics, StringComparison.Ordinal);
        var allocated = metrics.Split('\n').Single(l => l.StartsWith("dotnet_gc_allocated_bytes_total ", StringComparison.Ordinal));
        Assert.True(double.Parse(allocated.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture) > 0, allocated);

        // The data port does not serve admin paths: they are proxied like any request.
        var (proxied, echo) = await proxy.GetAsync("/ready");
        Assert.Equal(HttpStatusCode.OK, proxied.StatusCode);
        Assert.Equal("/ready", echo?.Path);
    }

    [Fact]
    public async Task Shutdown_drains_in_flight_requests_before_stopping()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "drained")));
        var slow = proxy.GetAsync("/slow");
        await proxy.Upstream.SlowStarted.Task;

        var stopping = proxy.Server.StopAsync();
        // The admin listener outlives the data listeners and reports the drain.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await proxy.Admin.GetAsync("/ready")).StatusCode);
        Assert.False(stopping.IsCompleted);

        proxy.Upstream.ReleaseSlow();
        var (response, echo) = await slow;
        await stopping;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("drained", response.Headers.GetValues("hello").Single());
        Assert.Equal("/slow", echo?.Path);
    }
}
