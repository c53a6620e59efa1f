using System.Net;
using System.Text;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A plugin that pauses on the whole body (end_of_stream) stops the stream until it decides, as in Envoy:
/// a body-inspecting authorizer's callout answer is what lets the request through or turns it away. A LOG_ONLY
/// plugin that holds the body sees it whole too, on its own copy, while the real body streams on.
/// </summary>
public sealed class BodyPauseTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_request_paused_on_its_body_waits_for_the_callout_and_is_denied_without_reaching_the_upstream(bool chunked)
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", Wat("body_authz"), "authz")));

        var (allowed, echo) = await proxy.SendAsync(Post("yes, please", chunked));
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.NotNull(echo);
        Assert.Equal("yes, please", echo.Body);
        Assert.Equal(1, proxy.Upstream.Requests);

        var (denied, deniedEcho) = await proxy.SendAsync(Post("no, thanks", chunked));
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Null(deniedEcho);
        Assert.Equal("denied", await denied.Content.ReadAsStringAsync());
        Assert.Equal(1, proxy.Upstream.Requests);
        Assert.Equal(2, proxy.Authorizer.Requests);
    }

    [Fact]
    public async Task A_vm_that_dies_while_the_body_waits_for_its_decision_fails_the_request_under_fail_reload()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", Wat("body_authz_trap"), "authz", extra: "failStrategy: FAIL_RELOAD")));

        var (response, _) = await proxy.SendAsync(Post("yes, please", chunked: false));

        // The VM trapped in its callout handler. FAIL_RELOAD retries only on_request_headers (a fresh context given
        // the body alone would decide without what the plugin saw before), so this request fails closed.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(1, proxy.Authorizer.Requests);
        Assert.Equal(0, proxy.Upstream.Requests);
        // One trap, one rejection: the 503's response callbacks skip the failed plugin (they counted both twice).
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_traps_total{plugin=\"default/authz\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("wasm_plugin_fail_closed_total{plugin=\"default/authz\"} 1", metrics, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("FAIL_CLOSE")]
    [InlineData("FAIL_RELOAD")]
    public async Task A_trap_in_the_body_callback_is_never_a_bypass(string strategy)
    {
        // The plugin marks its stream in on_request_headers and traps on the body of a marked stream. A retry on a
        // fresh context that saw only the body let the request through under FAIL_RELOAD (200, upstream got "attack").
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("guard", Wat("body_trap_when_marked"), "guard", extra: $"failStrategy: {strategy}")));

        using var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = new StringContent("attack", Encoding.ASCII) };
        var (response, echo) = await proxy.SendAsync(request);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Null(echo);
        Assert.Equal(0, proxy.Upstream.Requests);
    }

    [Fact]
    public async Task A_log_only_plugin_holding_the_body_decides_on_all_of_it_and_its_reply_is_counted_not_sent()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("waf", Wat("body_waf"), "waf", extra: "mode: LOG_ONLY")));
        // Many reads long: the verdict depends on the first byte, which only the body held whole still has.
        var body = "n" + new string('y', 200_000);

        var (response, echo) = await proxy.SendAsync(Post(body, chunked: false));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body, echo?.Body);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("request_body_at_end 200001\n", metrics, StringComparison.Ordinal);
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/waf\",action=\"local_response\"} 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_log_only_plugin_holding_both_bodies_sees_each_whole_and_its_pause_is_counted_once_per_direction()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("waf", Wat("body_waf"), "waf", extra: "mode: LOG_ONLY")));
        var body = new string('y', 200_000);

        using var response = await proxy.Client.SendAsync(Post(body, chunked: true));
        var received = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(body, Encoding.UTF8.GetString(received), StringComparison.Ordinal);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("request_body_at_end 200000\n", metrics, StringComparison.Ordinal);
        Assert.Contains($"response_body_at_end {received.Length}\n", metrics, StringComparison.Ordinal);
        // The request and the response body were held for many reads each: one pause per direction.
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/waf\",action=\"pause\"} 2\n", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("action=\"local_response\"", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_log_only_plugin_holding_more_than_the_buffer_limit_is_counted_once_and_no_longer_fed_while_the_traffic_flows()
    {
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("waf", Wat("body_waf"), "waf", extra: "mode: LOG_ONLY")), o => o.MaxBufferedBodyBytes = 64 * 1024);
        var body = "n" + new string('y', 200_000);

        var (response, echo) = await proxy.SendAsync(Post(body, chunked: false));

        // An enforcing plugin would have had the request answered 413 (and the response 500); a LOG_ONLY one is not
        // allowed to, and it got neither end of body to decide on.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body, echo?.Body);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/waf\",action=\"request_payload_too_large\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/waf\",action=\"response_payload_too_large\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("action=\"local_response\"", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("request_body_at_end 2", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("response_body_at_end 2", metrics, StringComparison.Ordinal);
    }

    private static HttpRequestMessage Post(string body, bool chunked)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        HttpContent content = chunked ? new StreamContent(new MemoryStream(bytes)) : new ByteArrayContent(bytes);
        var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = content };
        request.Headers.TransferEncodingChunked = chunked;
        return request;
    }
}
