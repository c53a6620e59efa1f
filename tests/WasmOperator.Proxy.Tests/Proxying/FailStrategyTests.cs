using System.Net;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>failStrategy (wasmplugin-api.md) with a plugin that traps on /trap, and mode LOG_ONLY.</summary>
public sealed class FailStrategyTests
{
    private static string Trapping(string strategy, string mode = "ENFORCE") => Yaml(
        Plugin("trap", Wat("trap_on_path"), "", extra: $"failStrategy: {strategy}\nmode: {mode}"),
        Plugin("add", Example("add_header"), "add_header", "after-trap"));

    [Fact]
    public async Task Fail_close_answers_503_and_logs_wasm_fail_stream()
    {
        await using var proxy = await ProxyHarness.StartAsync(Trapping("FAIL_CLOSE"));
        var before = proxy.Upstream.Requests;
        var (response, _) = await proxy.GetAsync("/trap");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(before, proxy.Upstream.Requests);
        // The line names the request, so that the failure can be found among the others (Envoy's access log has it).
        Assert.True(proxy.Logs.Contains("wasm_fail_stream: plugin default/trap failed on GET /trap; answered 503 (FAIL_CLOSE): "),
            string.Join(" | ", proxy.Logs.Lines));
        Assert.Contains("wasm_plugin_fail_closed_total{plugin=\"default/trap\"} 1", await proxy.MetricsAsync(), StringComparison.Ordinal);
        // The shard's own line names the plugin as the proxy's lines and metrics do (it said default.trap, a grep for one missed the other).
        Assert.True(proxy.Logs.Contains("plugin default/trap shard "), string.Join(" | ", proxy.Logs.Lines));
    }

    [Fact]
    public async Task Fail_open_skips_the_failed_plugin_and_the_rest_of_the_chain_still_runs()
    {
        await using var proxy = await ProxyHarness.StartAsync(Trapping("FAIL_OPEN"));
        var (response, echo) = await proxy.GetAsync("/trap");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(echo);
        Assert.Equal("/trap", echo.Path);
        Assert.Equal("after-trap", response.Headers.GetValues("hello").Single());
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_fail_open_total{plugin=\"default/trap\"} 1", metrics, StringComparison.Ordinal);
        Assert.True(proxy.Logs.Contains("plugin default/trap failed on GET /trap, skipped for the rest of it (FAIL_OPEN): "), string.Join(" | ", proxy.Logs.Lines));
        Assert.Contains("wasm_plugin_traps_total{plugin=\"default/trap\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fail_open_still_sends_a_local_reply_the_plugin_asked_for_before_it_trapped()
    {
        // Envoy runs the reply after the VM call whatever its end (an after-VM-call action): an authorizer whose deny path
        // traps after answering denies. Failing open let the request through to the upstream instead.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", Wat("decide_then_trap"), "", "reply", "failStrategy: FAIL_OPEN")));
        var (response, _) = await proxy.GetAsync("/secret");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("denied", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, proxy.Upstream.Requests);
        Assert.True(proxy.Logs.Contains("plugin default/authz failed on GET /secret after it asked for its local reply 403, which is applied"),
            string.Join(" | ", proxy.Logs.Lines));
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_traps_total{plugin=\"default/authz\"} 1", metrics, StringComparison.Ordinal);
        // Not a pass: nothing went past the plugin.
        Assert.Contains("wasm_plugin_fail_open_total{plugin=\"default/authz\"} 0", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fail_open_still_closes_a_stream_the_plugin_closed_before_it_trapped()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", Wat("decide_then_trap"), "", "close", "failStrategy: FAIL_OPEN")));

        await Assert.ThrowsAsync<HttpRequestException>(() => proxy.GetAsync("/secret"));
        Assert.Equal(0, proxy.Upstream.Requests);
    }

    [Fact]
    public async Task Fail_close_answers_503_even_when_the_plugin_asked_for_a_reply_before_it_trapped()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", Wat("decide_then_trap"), "", "reply", "failStrategy: FAIL_CLOSE")));
        var (response, _) = await proxy.GetAsync("/secret");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(0, proxy.Upstream.Requests);
    }

    [Fact]
    public async Task Fail_reload_retries_once_on_a_fresh_vm_then_answers_503_and_later_requests_are_served()
    {
        await using var proxy = await ProxyHarness.StartAsync(Trapping("FAIL_RELOAD"));
        var (response, _) = await proxy.GetAsync("/trap");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_reload_retries_total{plugin=\"default/trap\"} 1", metrics, StringComparison.Ordinal);
        Assert.True(proxy.Logs.Contains("plugin default/trap failed on GET /trap, retrying once on a fresh stream context on a healthy VM (FAIL_RELOAD): "), string.Join(" | ", proxy.Logs.Lines));
        // The final line names the plugin's own strategy (it said FAIL_CLOSE).
        Assert.True(proxy.Logs.Contains("wasm_fail_stream: plugin default/trap failed on GET /trap; answered 503 (FAIL_RELOAD, not retried again): "),
            string.Join(" | ", proxy.Logs.Lines));

        // Both shards trapped: the first, and the fresh one the retry ran on.
        Assert.Contains("wasm_plugin_traps_total{plugin=\"default/trap\"} 2", metrics, StringComparison.Ordinal);

        // The shards are rebuilt after their backoff; a healthy request is served again.
        await ProxyHarness.EventuallyAsync(async () => (await proxy.GetAsync("/fine")).Response.StatusCode == HttpStatusCode.OK, "a rebuilt shard serves");
    }

    [Fact]
    public async Task Fail_reloads_retry_sees_the_request_as_the_failed_attempt_first_saw_it()
    {
        // The plugin marks the request, then traps. Its retry saw the mark the failed attempt left, let the request
        // through, and the upstream got it with the mark (200): an authorizer that removed a credential or set x-user
        // before failing was retried on its own half-done edits.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("marker", Wat("mark_then_trap"), "", extra: "failStrategy: FAIL_RELOAD")));
        var before = proxy.Upstream.Requests;

        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(before, proxy.Upstream.Requests);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_reload_retries_total{plugin=\"default/marker\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("wasm_plugin_traps_total{plugin=\"default/marker\"} 2", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_fail_reload_retry_of_a_request_the_failed_attempt_did_not_edit_forwards_it_as_it_came()
    {
        // Putting back headers nobody edited rewrote them all, :path too, and a server-wide OPTIONS * was refused (500:
        // a plugin's :path must start with '/').
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nAllow: GET\r\nContent-Length: 0\r\n\r\n"));
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("once", Wat("trap_once_across_vms"), "", extra: "failStrategy: FAIL_RELOAD")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync("OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"u8.ToArray());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var reply = await new StreamReader(stream, System.Text.Encoding.ASCII).ReadToEndAsync(timeout.Token);

        Assert.StartsWith("HTTP/1.1 200", reply, StringComparison.Ordinal);
        Assert.Equal("OPTIONS * HTTP/1.1", Assert.Single(upstream.Requests).RequestLine);
        Assert.Contains("wasm_plugin_reload_retries_total{plugin=\"default/once\"} 1", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fail_reload_does_not_retry_while_no_vm_is_healthy_and_logs_those_rejections_once_a_second()
    {
        await using var proxy = await ProxyHarness.StartAsync(Trapping("FAIL_RELOAD"));

        // The first request traps both shards (its own and the retry's); both then wait out a rebuild backoff.
        for (var i = 0; i < 31; i++)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await proxy.GetAsync("/trap")).Response.StatusCode);
        }

        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_fail_closed_total{plugin=\"default/trap\"} 31", metrics, StringComparison.Ordinal);
        // A retry only after a trap on a VM, never for "no healthy VM": that was one retry and one line a request.
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("retrying once on a fresh stream context", StringComparison.Ordinal) && l.Contains("no healthy VM", StringComparison.Ordinal));
        var retries = proxy.Logs.Lines.Count(l => l.Contains("retrying once on a fresh stream context", StringComparison.Ordinal));
        Assert.InRange(retries, 1, 5);
        Assert.Contains($"wasm_plugin_reload_retries_total{{plugin=\"default/trap\"}} {retries}\n", metrics, StringComparison.Ordinal);
        Assert.InRange(proxy.Logs.Lines.Count(l => l.Contains("wasm_fail_stream: plugin default/trap", StringComparison.Ordinal)), 1, 15);
    }

    [Fact]
    public async Task A_plugin_that_cannot_load_at_startup_fails_closed_or_is_skipped_by_its_strategy()
    {
        var yaml = Yaml(
            Plugin("closed", Wat("configure_fails"), "", extra: "failStrategy: FAIL_CLOSE\nmatch:\n- ports:\n  - number: 1"),
            Plugin("open", Wat("configure_fails"), "", extra: "failStrategy: FAIL_OPEN"));
        await using var proxy = await ProxyHarness.StartAsync(yaml);
        var (open, _) = await proxy.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, open.StatusCode);

        await proxy.WritePluginsAsync(Yaml(Plugin("closed", Wat("configure_fails"), "", extra: "failStrategy: FAIL_CLOSE")));
        // The proxy already serves a chain, so the broken set is rejected rather than installed.
        await ProxyHarness.EventuallyAsync(async () => (await proxy.Admin.GetStringAsync("/config_dump")).Contains("previous plugin set keeps serving", StringComparison.Ordinal), "rejection recorded");
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/")).Response.StatusCode);
    }

    [Fact]
    public async Task Requests_a_plugin_that_never_loaded_rejects_are_all_counted_but_logged_once_a_second()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("closed", Wat("configure_fails"), "", extra: "failStrategy: FAIL_CLOSE")));

        for (var i = 0; i < 30; i++)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await proxy.GetAsync("/")).Response.StatusCode);
        }

        Assert.Contains("wasm_plugin_fail_closed_total{plugin=\"default/closed\"} 30", await proxy.MetricsAsync(), StringComparison.Ordinal);
        // One line a request before: a plugin without a VM fails every request alike, thousands a second under load.
        var lines = proxy.Logs.Lines.Count(l => l.Contains("wasm_fail_stream: plugin default/closed", StringComparison.Ordinal));
        Assert.InRange(lines, 1, 10);
    }

    [Fact]
    public async Task A_plugin_that_cannot_load_in_the_first_set_with_fail_close_rejects_matching_requests()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("closed", Wat("configure_fails"), "", extra: "failStrategy: FAIL_CLOSE")));
        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var dump = await proxy.Admin.GetStringAsync("/config_dump");
        Assert.Contains("\"state\": \"Failed\"", dump, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Log_only_plugins_see_real_traffic_but_their_actions_are_only_logged_and_counted()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(
            Plugin("show", Example("showcase"), "showcase", extra: "mode: LOG_ONLY"),
            Plugin("add", Example("add_header"), "add_header", "dry-run", "mode: LOG_ONLY")));
        var (local, echo) = await proxy.GetAsync("/local");

        Assert.Equal(HttpStatusCode.OK, local.StatusCode);
        Assert.NotNull(echo);
        Assert.Null(echo.Header("x-plugin-name"));
        Assert.False(local.Headers.Contains("hello"));
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/show\",action=\"local_response\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/show\",action=\"header_mutation\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/add\",action=\"header_mutation\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("showcase_requests 1", metrics, StringComparison.Ordinal);
        Assert.True(proxy.Logs.Contains("would have applied local_response on /local"));
    }

    [Fact]
    public async Task A_trapping_log_only_plugin_never_fails_the_request()
    {
        await using var proxy = await ProxyHarness.StartAsync(Trapping("FAIL_CLOSE", "LOG_ONLY"));
        var (response, _) = await proxy.GetAsync("/trap");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // Skipped because it is LOG_ONLY, whatever its failStrategy: the line said FAIL_OPEN for this FAIL_CLOSE plugin.
        Assert.True(proxy.Logs.Contains("plugin default/trap failed on GET /trap, skipped for the rest of it (LOG_ONLY): "), string.Join(" | ", proxy.Logs.Lines));
    }
}
