using System.Net;
using System.Text;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A LOG_ONLY plugin whose request-headers pause is unresolved (an authorizer waiting on its callout) gets the stream's
/// later callbacks as its enforcing twin would: only once it resumes, in order, and none if it answers or its pause times
/// out, where that twin's stream would have ended. The real request never waits for it: in each test the authorizer
/// answers only once the client has the upstream's answer. The plugin logs each callback as "cb:..." (the fixture).
/// </summary>
public sealed class LogOnlyDeferredCallbacksTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_log_only_plugin_paused_on_request_headers_gets_the_later_callbacks_in_order_only_after_it_resumes()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartAsync(authorizer);

        var (status, body) = await PostAsync(proxy, "allow");
        await authorizer.Asked.Task.WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.OK, status);
        // The client has its answer, and the plugin still waits: it got nothing after its request headers.
        Assert.Equal(["cb:request_headers"], Callbacks(proxy));

        authorizer.Open();

        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        // As Envoy gives a resumed filter the body it buffered meanwhile: the whole body in one call.
        Assert.Equal(
            ["cb:request_headers", "cb:resumed", "cb:request_body 5 eos", "cb:response_headers", $"cb:response_body {body.Length} eos", "cb:on_log"],
            Callbacks(proxy));
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/record\",action=\"pause\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("action=\"local_response\"", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_log_only_plugin_that_resumes_while_its_request_is_under_way_gets_what_waited_then_the_rest_as_it_comes()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartAsync(authorizer);

        // The upstream holds its answer: the plugin resumes while the request is still under way.
        var pending = PostAsync(proxy, "allow", "/slow");
        await proxy.Upstream.SlowStarted.Task.WaitAsync(Patience);
        Assert.Equal(["cb:request_headers"], Callbacks(proxy));
        authorizer.Open();
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(Callbacks(proxy).Length == 3), "the body that waited to be delivered");
        proxy.Upstream.ReleaseSlow();
        var (status, _) = await pending;

        Assert.Equal(HttpStatusCode.OK, status);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        var callbacks = Callbacks(proxy);
        Assert.Equal(["cb:request_headers", "cb:resumed", "cb:request_body 5 eos", "cb:response_headers"], callbacks[..4]);
        // The response, which came after the resume, as it came.
        Assert.StartsWith("cb:response_body ", callbacks[4], StringComparison.Ordinal);
        Assert.EndsWith(" eos", callbacks[^2], StringComparison.Ordinal);
        Assert.Equal("cb:on_log", callbacks[^1]);
    }

    [Fact]
    public async Task A_log_only_plugin_that_answers_after_the_response_went_gets_none_of_the_later_callbacks()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartAsync(authorizer);

        var (status, _) = await PostAsync(proxy, "deny");
        await authorizer.Asked.Task.WaitAsync(Patience);
        authorizer.Open();

        Assert.Equal(HttpStatusCode.OK, status);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        // Enforcing, the 403 would have ended the stream before its body or any response reached the plugin.
        Assert.Equal(["cb:request_headers", "cb:on_log"], Callbacks(proxy));
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/record\",action=\"pause\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/record\",action=\"local_response\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("LOG_ONLY plugin default/record would have applied local_response on /orders", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_log_only_plugin_whose_request_headers_pause_times_out_gets_none_of_the_later_callbacks()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartAsync(authorizer, o => o.PauseTimeout = TimeSpan.FromSeconds(1));

        // The callout answers, and the plugin neither resumes nor answers.
        var (status, _) = await PostAsync(proxy, "nothing");
        authorizer.Open();

        Assert.Equal(HttpStatusCode.OK, status);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        Assert.Equal(["cb:request_headers", "cb:on_log"], Callbacks(proxy));
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/record\",action=\"pause_timeout\"} 1\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_log_only_plugin_that_resumes_after_its_pause_timed_out_while_the_request_is_under_way_gets_none_of_the_later_callbacks()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartAsync(authorizer, o => o.PauseTimeout = TimeSpan.FromSeconds(1));

        // The upstream holds its answer past the pause timeout, and the plugin resumes only then: enforcing, its stream
        // had got the 503 at the timeout.
        var pending = PostAsync(proxy, "allow", "/slow");
        await proxy.Upstream.SlowStarted.Task.WaitAsync(Patience);
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        authorizer.Open();
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(Callbacks(proxy).Contains("cb:resumed")), "the plugin to resume");
        proxy.Upstream.ReleaseSlow();
        var (status, _) = await pending;

        Assert.Equal(HttpStatusCode.OK, status);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        Assert.Equal(["cb:request_headers", "cb:resumed", "cb:on_log"], Callbacks(proxy));
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/record\",action=\"pause_timeout\"} 1\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bodies_past_the_buffer_limit_while_a_log_only_plugin_waits_are_dropped_counted_once_and_not_delivered()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartAsync(authorizer, o => o.MaxBufferedBodyBytes = 4);

        var (status, _) = await PostAsync(proxy, "allow");
        await authorizer.Asked.Task.WaitAsync(Patience);
        authorizer.Open();

        Assert.Equal(HttpStatusCode.OK, status);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        Assert.Equal(["cb:request_headers", "cb:resumed", "cb:response_headers", "cb:on_log"], Callbacks(proxy));
        // Not a payload too large: the enforcing twin's pause holds the request body unread, and its response would start
        // only after the resume.
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/record\",action=\"deferred_body_dropped\"} 2\n", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("payload_too_large", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bodies_past_the_proxys_budget_for_kept_bodies_are_dropped_and_delivered_ones_give_their_bytes_back()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        // Room for one request body ("hello") and not for the response's after it.
        await using var proxy = await StartAsync(authorizer, o => o.MaxDeferredBodyBytes = 8);

        for (var n = 1; n <= 2; n++)
        {
            var (status, _) = await PostAsync(proxy, "allow");
            await authorizer.Asked.Task.WaitAsync(Patience);
            authorizer.Open();

            Assert.Equal(HttpStatusCode.OK, status);
            await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Lines.Count(l => l.Contains("stream deleted", StringComparison.Ordinal)) == n), "the stream context to go");
            authorizer.Renew();
        }

        // The second request's body is kept as the first's was: the first gave its bytes back when delivered.
        Assert.Equal(
            ["cb:request_headers", "cb:resumed", "cb:request_body 5 eos", "cb:response_headers", "cb:on_log",
             "cb:request_headers", "cb:resumed", "cb:request_body 5 eos", "cb:response_headers", "cb:on_log"],
            Callbacks(proxy));
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/record\",action=\"deferred_body_dropped\"} 2\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
        // The proxy dropped them, not the plugin: the line says so rather than what the plugin "would have applied".
        Assert.Equal(2, proxy.Logs.Lines.Count(l => l.Contains("LOG_ONLY plugin default/record: a body kept for it while it decides was dropped on /", StringComparison.Ordinal)));
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("would have applied deferred_body_dropped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_log_only_plugin_whose_callbacks_wait_cannot_edit_the_real_response_headers_from_its_callouts_answer()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var gate = await GatedAuthorizer.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(
                Plugin("edit", Wat("edit_response_headers_after_callout"), "edit", extra: "mode: LOG_ONLY"),
                Plugin("hold", Wat("pause_response_headers_for_callout"), "hold")),
            o =>
            {
                o.Clusters["authz"] = authorizer.Address;
                o.Clusters["gated"] = gate.Address;
            });

        // The response headers wait at the enforcing plugin (it runs first on the response) while the LOG_ONLY plugin's
        // callout answers and adds a response header: its response headers callback has not run, so it has no map yet.
        var pending = proxy.GetAsync("/orders");
        await gate.Asked.Task.WaitAsync(Patience);
        authorizer.Open();
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("edited")), "the LOG_ONLY plugin's callout to answer");
        gate.Open();
        var (response, _) = await pending;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("x-log-only-edit"), response.Headers.ToString());
    }

    [Fact]
    public async Task A_body_that_goes_on_after_the_response_started_is_delivered_in_one_call_when_the_plugin_resumes()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var echo = new EchoUpstream(close: true);
        await using var proxy = await StartAsync(authorizer, o => o.Clusters[WasmOperator.Proxy.Configuration.ProxyOptions.DefaultCluster] = echo.Address);

        // The upstream echoes the request body as it reads it: the response starts (headers and "hello" back) while the
        // request body is still being sent, so each body's callbacks wait on both sides of the response headers'.
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync("POST /echo HTTP/1.1\r\nHost: a\r\nx-decide: allow\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello"u8.ToArray());
        var received = new List<byte>();
        var buffer = new byte[4096];
        while (!Encoding.ASCII.GetString([.. received]).Contains("hello", StringComparison.Ordinal))
        {
            var n = await stream.ReadAsync(buffer).AsTask().WaitAsync(Patience);
            Assert.True(n > 0, "the proxy closed before the echo of the first half");
            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        await stream.WriteAsync("world"u8.ToArray());
        await stream.CopyToAsync(Stream.Null).WaitAsync(Patience);
        authorizer.Open();

        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        // As Envoy gives a resumed filter the body it buffered meanwhile: each body whole, in one call.
        Assert.Equal(
            ["cb:request_headers", "cb:resumed", "cb:request_body 10 eos", "cb:response_headers", "cb:response_body 10 eos", "cb:on_log"],
            Callbacks(proxy));
    }

    [Theory]
    [InlineData("deny")]
    [InlineData("allow")]
    [InlineData("nothing")]
    public async Task The_bytes_kept_for_a_waiting_log_only_plugin_go_back_to_the_budget_whatever_it_decides(string decision)
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartAsync(authorizer, o => o.PauseTimeout = TimeSpan.FromSeconds(1));

        // Half the body comes while the plugin waits, and is kept for it; it decides (or times out) mid-body.
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /orders HTTP/1.1\r\nHost: a\r\nx-decide: {decision}\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello"));
        await authorizer.Asked.Task.WaitAsync(Patience);
        await ProxyHarness.EventuallyAsync(async () => (await proxy.MetricsAsync()).Contains("\nproxy_log_only_deferred_body_bytes 5\n", StringComparison.Ordinal), "the first half to be kept");
        authorizer.Open();
        await stream.WriteAsync("world"u8.ToArray());
        await stream.CopyToAsync(Stream.Null).WaitAsync(Patience);

        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        Assert.Contains("\nproxy_log_only_deferred_body_bytes 0\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_log_only_plugin_that_answers_while_its_request_is_under_way_gets_none_of_the_later_callbacks()
    {
        await using var authorizer = await GatedAuthorizer.StartAsync();
        await using var proxy = await StartAsync(authorizer);

        // The upstream holds its answer: the plugin denies while the request is still under way, and the response comes
        // after. Enforcing, the 403 would have ended the stream there.
        var pending = PostAsync(proxy, "deny", "/slow");
        await proxy.Upstream.SlowStarted.Task.WaitAsync(Patience);
        authorizer.Open();
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.MetricsAsync()).Contains("action=\"local_response\"} 1\n", StringComparison.Ordinal), "the plugin's answer to be counted");
        proxy.Upstream.ReleaseSlow();
        var (status, _) = await pending;

        Assert.Equal(HttpStatusCode.OK, status);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream deleted")), "the stream context to go");
        Assert.Equal(["cb:request_headers", "cb:on_log"], Callbacks(proxy));
        Assert.Contains("wasm_plugin_log_only_actions_total{plugin=\"default/record\",action=\"local_response\"} 1\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    private static Task<ProxyHarness> StartAsync(GatedAuthorizer authorizer, Action<WasmOperator.Proxy.Configuration.ProxyOptions>? configure = null) =>
        ProxyHarness.StartAsync(
            Yaml(Plugin("record", Wat("record_callbacks_after_callout"), "record", extra: "mode: LOG_ONLY")),
            o =>
            {
                o.Clusters["authz"] = authorizer.Address;
                configure?.Invoke(o);
            });

    /// <summary>POST (to /orders) with the body "hello" and the plugin's decision in x-decide; the status and body the client got.</summary>
    private static async Task<(HttpStatusCode Status, byte[] Body)> PostAsync(ProxyHarness proxy, string decision, string path = "/orders")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent("hello", Encoding.UTF8, "text/plain") };
        request.Headers.Add("x-decide", decision);
        using var response = await proxy.Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsByteArrayAsync());
    }

    /// <summary>The plugin's callbacks in the order it logged them.</summary>
    private static string[] Callbacks(ProxyHarness proxy)
    {
        var callbacks = new List<string>();
        foreach (var line in proxy.Logs.Lines)
        {
            var at = line.IndexOf("cb:", StringComparison.Ordinal);
            if (at >= 0)
            {
                callbacks.Add(line[at..]);
            }
        }

        return [.. callbacks];
    }
}
