using System.Net;
using System.Text;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// What a plugin does to the stream takes effect wherever it does it: a close inside a callback, a reply
/// while the body streams upstream, and, for a LOG_ONLY plugin, each would-be action is counted.
/// </summary>
public sealed class StreamControlTests
{
    [Fact]
    public async Task A_pause_no_plugin_ends_gets_503_and_a_line_naming_the_plugin_and_the_request()
    {
        // The fixture resumes after two ticks (200 ms at least): past this pause timeout.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("slow", Wat("pause_headers_until_tick"), "slow")),
            o => o.PauseTimeout = TimeSpan.FromMilliseconds(50));

        var (response, _) = await proxy.GetAsync("/orders/7");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("plugin did not resume the stream", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, proxy.Upstream.Requests);
        // Nothing else tells which plugin of a chain held the stream.
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains(
            "wasm_pause_timeout: plugin default/slow paused GET /orders/7 and did not resume, answer or close it within 0.05 s; answered 503")),
            "the pause timeout logged: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Fact]
    public async Task A_close_made_inside_a_callback_that_then_continues_resets_the_stream()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("close", Wat("close_in_headers"), "close")));

        await Assert.ThrowsAsync<HttpRequestException>(() => proxy.GetAsync("/"));
        Assert.Equal(0, proxy.Upstream.Requests);

        // A reset the proxy sent, not a 2xx (its untouched status was never sent) nor the client's reset.
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains("proxy_plugin_resets_total 1\n", StringComparison.Ordinal), "the reset to be counted");
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_requests_total{code=\"2xx\"} 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_downstream_resets_total 0\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reply_while_the_body_streams_upstream_is_the_plugins_not_an_upstream_failure()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("deny", Wat("deny_at_body_end"), "deny")));
        // Bigger than one read: the first chunks leave for the upstream before the plugin decides on the last.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new ByteArrayContent(new byte[256 * 1024]) };

        var (response, _) = await proxy.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("denied at end", await response.Content.ReadAsStringAsync());
        var metrics = await proxy.MetricsAsync();
        Assert.DoesNotContain("proxy_upstream_errors_total 1", metrics, StringComparison.Ordinal);
        Assert.False(proxy.Logs.Contains("forwarding failed"), string.Join(" | ", proxy.Logs.Lines));
    }

    [Fact]
    public async Task A_log_only_plugin_that_would_reply_in_every_callback_counts_one_reply_a_request()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("deny", Wat("reply_in_every_callback"), "deny", extra: "mode: LOG_ONLY")));

        var (response, _) = await proxy.GetAsync("/orders");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // Enforcing, its first reply ends the stream: one a request, not one for the request headers, one for the
        // response headers and one for each response chunk, which overstated what the dry run would block.
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/deny\",action=\"local_response\"} 1\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("would have applied local_response", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_log_only_body_authorizer_counts_its_pause_at_the_end_of_the_body_and_the_request_goes_through()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", Wat("body_authz"), "authz", extra: "mode: LOG_ONLY")));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = new StringContent("no, thanks", Encoding.UTF8) };

        var (response, echo) = await proxy.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("no, thanks", echo!.Body);
        // The pause an enforcing plugin would have made is counted; the request does not wait for its callout's verdict
        // (LogOnlyLateDecisionTests: that is counted when it comes).
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/authz\",action=\"pause\"} 1", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("_after_pause", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Until_the_plugin_file_first_loads_requests_are_refused_not_passed_without_plugins()
    {
        await using var proxy = await ProxyHarness.StartAsync("plugins: [\n");

        var (refused, _) = await proxy.GetAsync("/");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("plugin configuration not loaded", await refused.Content.ReadAsStringAsync());
        Assert.Equal(0, proxy.Upstream.Requests);

        await proxy.WritePluginsAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "loaded")));
        await ProxyHarness.EventuallyAsync(async () => (await proxy.GetAsync("/")).Response.StatusCode == HttpStatusCode.OK, "the fixed file to load");
        var (served, _) = await proxy.GetAsync("/");
        Assert.Equal("loaded", served.Headers.GetValues("hello").Single());
    }
    [Fact]
    public async Task Resuming_the_request_does_not_resume_a_paused_response()
    {
        await using var proxy = await ProxyHarness.StartAsync(
            // Long enough for the callout to be answered first on a loaded machine: the wrong resume must come before the timeout.
            Yaml(Plugin("wrong", Wat("response_wrong_resume"), "wrong")), o => o.PauseTimeout = TimeSpan.FromSeconds(3));

        var (response, _) = await proxy.GetAsync("/");

        // The response stayed paused until the pause timeout: the plugin never resumed it.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("plugin did not resume the stream", await response.Content.ReadAsStringAsync());
        Assert.Equal(1, proxy.Authorizer.Requests);
    }
}
