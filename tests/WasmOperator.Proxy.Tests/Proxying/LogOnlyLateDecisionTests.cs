using System.Net;
using Microsoft.AspNetCore.Http;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A LOG_ONLY plugin's pause holds nothing: the request goes on and may be over before the plugin decides (its
/// authorizer is slower than the upstream). Its stream context lives on until it decides, so the decision an enforcing
/// plugin would have applied is still logged and counted; then the context goes, as it does when the plugin never
/// decides, at the pause timeout. In each test the authorizer answers only once the client has the upstream's answer.
/// </summary>
public sealed class LogOnlyLateDecisionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData("deny", "local_response")]
    [InlineData("close", "close_stream")]
    [InlineData("edit", "header_mutation")]
    public async Task A_log_only_plugins_decision_from_a_callout_answered_after_its_request_completed_is_logged_and_counted(string decision, string action)
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("decide", Wat("decide_after_callout"), "decide", extra: "mode: LOG_ONLY")),
            o => o.Clusters["authz"] = authorizer.Address);

        var (response, echo) = await proxy.GetAsync("/orders", ("x-decide", decision));
        await authorizer.Asked.Task.WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(echo!.Header("x-authorized"));
        Assert.DoesNotContain($"action=\"{action}\"", await proxy.MetricsAsync(), StringComparison.Ordinal);
        // Kept for the decision: the callout has not answered.
        Assert.False(proxy.Logs.Contains("stream deleted"), string.Join(" | ", proxy.Logs.Lines));

        authorizer.Open();

        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains($"wasm_plugin_log_only_actions_total{{plugin=\"default/decide\",action=\"{action}\"}} 1\n", StringComparison.Ordinal),
            $"the late {action} to be counted");
        Assert.Single(proxy.Logs.Lines, l => l.Contains($"LOG_ONLY plugin default/decide would have applied {action} on /orders", StringComparison.Ordinal));
        // Then the context goes; on_log still reads the request's properties.
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        Assert.True(proxy.Logs.Contains("protocol HTTP/1.1"), string.Join(" | ", proxy.Logs.Lines));
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/decide\",action=\"pause\"} 1\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_log_only_plugins_late_decision_is_counted_and_its_context_completed_after_a_reload_retired_its_chain()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("decide", Wat("decide_after_callout"), "decide", extra: "mode: LOG_ONLY")),
            o => o.Clusters["authz"] = authorizer.Address);

        var (response, _) = await proxy.GetAsync("/orders", ("x-decide", "deny"));
        await authorizer.Asked.Task.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // The plugin set changes while the plugin waits on its callout: the request that held the old chain is over.
        await proxy.WritePluginsAsync("plugins: []\n");
        await ProxyHarness.EventuallyAsync(async () =>
        {
            using var dump = System.Text.Json.JsonDocument.Parse(await proxy.Admin.GetStringAsync("/config_dump"));
            return dump.RootElement.GetProperty("lastApplied").GetProperty("revision").GetInt64() == 2;
        }, "the new set to apply");
        authorizer.Open();

        // Its VM was kept for the lingering context: the denial is counted, and on_log and on_delete still run.
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains("wasm_plugin_log_only_actions_total{plugin=\"default/decide\",action=\"local_response\"} 1\n", StringComparison.Ordinal),
            "the late denial to be counted");
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        Assert.True(proxy.Logs.Contains("protocol HTTP/1.1"), string.Join(" | ", proxy.Logs.Lines));
    }

    [Fact]
    public async Task The_auth_example_in_log_only_mode_counts_the_denial_of_an_authorizer_slower_than_the_upstream()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync(StatusCodes.Status403Forbidden);
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("auth", Example("auth"), "auth", "authz", extra: "mode: LOG_ONLY")),
            o => o.Clusters["authz"] = authorizer.Address);

        var (response, _) = await proxy.GetAsync("/orders");
        await authorizer.Asked.Task.WaitAsync(Patience);
        authorizer.Open();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains("wasm_plugin_log_only_actions_total{plugin=\"default/auth\",action=\"local_response\"} 1\n", StringComparison.Ordinal),
            "the denial to be counted");
        Assert.True(proxy.Logs.Contains("LOG_ONLY plugin default/auth would have applied local_response on /orders"), string.Join(" | ", proxy.Logs.Lines));
    }

    [Fact]
    public async Task Log_only_contexts_still_waiting_when_the_proxy_stops_are_completed_counted_and_logged_once_per_plugin()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("decide", Wat("decide_after_callout"), "decide", extra: "mode: LOG_ONLY")),
            o => o.Clusters["authz"] = authorizer.Address);

        // Two requests whose authorizer never answers before the proxy stops: their contexts wait on the decision.
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/orders", ("x-decide", "deny"))).Response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/orders", ("x-decide", "deny"))).Response.StatusCode);
        Assert.False(proxy.Logs.Contains("stream deleted"), string.Join(" | ", proxy.Logs.Lines));

        await proxy.Server.StopAsync();

        Assert.Single(proxy.Logs.Lines, l => l.Contains("LOG_ONLY plugin default/decide had 2 stream(s) still waiting on its decision", StringComparison.Ordinal));
        Assert.Equal(2, proxy.Server.Metrics.For("default/decide").LogOnlyAction("dropped_at_shutdown").Value);
        // Completed, not lost: on_log and on_delete ran for both.
        Assert.Equal(2, proxy.Logs.Lines.Count(l => l.Contains("stream deleted", StringComparison.Ordinal)));
        // Undecided, and not timed out: nothing else is said of them.
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("would have applied local_response", StringComparison.Ordinal) ||
            l.Contains("would have applied pause_timeout", StringComparison.Ordinal));
    }

    /// <summary>The decide_after_callout plugin in LOG_ONLY mode asking <paramref name="authorizer"/>, with a pause timeout of 1 s.</summary>
    private static Task<ProxyHarness> WithOneSecondPauseTimeoutAsync(GatedAuthorizer authorizer) =>
        ProxyHarness.StartAsync(
            Yaml(Plugin("decide", Wat("decide_after_callout"), "decide", extra: "mode: LOG_ONLY")),
            o =>
            {
                o.Clusters["authz"] = authorizer.Address;
                o.PauseTimeout = TimeSpan.FromSeconds(1);
            });

    [Fact]
    public async Task A_log_only_plugin_that_never_decides_is_counted_as_a_pause_timeout_and_its_stream_context_goes()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await WithOneSecondPauseTimeoutAsync(authorizer);

        // The callout answers, and the plugin neither resumes nor stops the stream.
        var (response, _) = await proxy.GetAsync("/orders", ("x-decide", "nothing"));
        authorizer.Open();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/decide\",action=\"pause\"} 1\n", metrics, StringComparison.Ordinal);
        // Enforcing, the stream would have got the pause timeout's 503.
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/decide\",action=\"pause_timeout\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("LOG_ONLY plugin default/decide would have applied pause_timeout on /orders", StringComparison.Ordinal));
        Assert.DoesNotContain("action=\"local_response\"", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_log_only_pause_older_than_the_pause_timeout_when_its_request_completes_is_counted_as_a_pause_timeout()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await WithOneSecondPauseTimeoutAsync(authorizer);

        // The plugin pauses on the request's headers, its callout is never answered, and the upstream holds its answer
        // for longer than the pause timeout: enforcing, the request would have been answered 503 before the upstream's 200.
        var pending = proxy.GetAsync("/slow", ("x-decide", "deny"));
        await proxy.Upstream.SlowStarted.Task.WaitAsync(Patience);
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        proxy.Upstream.ReleaseSlow();
        var (response, _) = await pending;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/decide\",action=\"pause_timeout\"} 1\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("would have applied pause_timeout on /slow", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_log_only_plugin_buffering_an_upload_slower_than_the_pause_timeout_is_timed_only_from_the_bodys_end()
    {
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("authz", Wat("body_authz"), "authz", extra: "mode: LOG_ONLY")),
            o => o.PauseTimeout = TimeSpan.FromSeconds(1));

        // The plugin holds the body until its end, then asks the authorizer (which denies "no"). The upload takes longer
        // than the pause timeout; enforcing, only the wait at the body's end is timed, and the answer comes at once.
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync("POST /orders HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\nno, t"u8.ToArray());
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains("wasm_plugin_log_only_actions_total{plugin=\"default/authz\",action=\"pause\"} 1\n", StringComparison.Ordinal),
            "the plugin to hold the first chunk");
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await stream.WriteAsync("hanks"u8.ToArray());
        await stream.CopyToAsync(Stream.Null).WaitAsync(Patience);

        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()) is var metrics && (metrics.Contains("action=\"local_response\"", StringComparison.Ordinal) || metrics.Contains("action=\"pause_timeout\"", StringComparison.Ordinal)),
            "the plugin's decision or its pause timeout");
        var counted = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/authz\",action=\"local_response\"} 1\n", counted, StringComparison.Ordinal);
        Assert.DoesNotContain("pause_timeout", counted, StringComparison.Ordinal);
    }
}
