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
        // on_done, on_log and on_delete, timed together once the request is over (a plugin spinning there showed nowhere).
        await ProxyHarness.EventuallyAsync(async () => (await proxy.MetricsAsync()).Contains(
            "wasm_plugin_callback_duration_seconds_count{plugin=\"default/add\",callback=\"stream_end\"} 1", StringComparison.Ordinal), "the stream end timed");
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
    public async Task A_plugin_counts_only_the_requests_that_reached_it_in_the_chain()
    {
        // The authorizer runs first (higher priority) and answers /admin itself: the plugin after it never sees those.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(
            Plugin("deny", Wat("deny_admin_path"), "deny", extra: "priority: 10"),
            Plugin("after", Wat("pass_through"), "pass"),
            Plugin("unloaded", "/nonexistent/plugin.wasm", "x", extra: "failStrategy: FAIL_OPEN")));

        Assert.Equal(HttpStatusCode.Forbidden, (await proxy.GetAsync("/admin")).Response.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await proxy.GetAsync("/admin")).Response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/")).Response.StatusCode);

        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_requests_total{plugin=\"default/deny\"} 3\n", metrics, StringComparison.Ordinal);
        Assert.Contains("wasm_plugin_requests_total{plugin=\"default/after\"} 1\n", metrics, StringComparison.Ordinal); // was 3
        // A plugin that did not load applies its failStrategy to every request: each counts.
        Assert.Contains("wasm_plugin_requests_total{plugin=\"default/unloaded\"} 3\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_port_serves_probes_and_scrapes_only_and_the_admin_api_binds_its_own_address()
    {
        // 127.0.0.2 is loopback too on Linux: the admin listener there, the data and status ports on 127.0.0.1.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "x")),
            o => o.AdminAddress = IPAddress.Parse("127.0.0.2"));
        var options = proxy.Server.Options;
        using var status = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.StatusPort}") };
        using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.2:{options.AdminPort}") };

        Assert.Equal("ready\n", await status.GetStringAsync("/ready"));
        Assert.Equal("ready\n", await status.GetStringAsync("/healthz/ready"));
        Assert.Equal("ok\n", await status.GetStringAsync("/healthz"));
        Assert.Contains("proxy_requests_total", await status.GetStringAsync("/stats/prometheus"), StringComparison.Ordinal);

        // What could leak plugin configuration or change the proxy is not served there.
        using var dump = await status.GetAsync("/config_dump");
        Assert.Equal(HttpStatusCode.NotFound, dump.StatusCode);
        Assert.Contains($"the rest of the admin API is on 127.0.0.2:{options.AdminPort}", await dump.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var logging = await status.PostAsync("/logging?wasm=trace", null);
        Assert.Equal(HttpStatusCode.NotFound, logging.StatusCode);
        Assert.Contains("wasm: info", await admin.GetStringAsync("/logging"), StringComparison.Ordinal);
        Assert.Contains("\"name\": \"add\"", await admin.GetStringAsync("/config_dump"), StringComparison.Ordinal);

        // The admin port is not open on the data address.
        using var elsewhere = new System.Net.Sockets.TcpClient();
        await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(() => elsewhere.ConnectAsync(IPAddress.Loopback, options.AdminPort));
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
