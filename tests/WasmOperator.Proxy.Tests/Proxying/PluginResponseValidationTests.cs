using System.Net;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A response the plugins left unsendable gets a defined answer on both forwarding paths and both listeners, counted and
/// logged in one line: before it started, a local reply (502 for a <c>:status</c> removed or no number, as Envoy's filter
/// manager answers; 500 invalid_response_from_plugins for a field Kestrel cannot write); once it started, a reset. Each
/// of these reached Kestrel as an unhandled exception: a bare 500 or a reset no counter saw, a stack trace naming nothing.
/// </summary>
public sealed class PluginResponseValidationTests
{
    private const int BodyLength = 40_000;

    private static string Setter => Yaml(Plugin("setter", Wat("set_field_from_request"), "setter"));

    private static string EndEditor => Yaml(Plugin("ender", Wat("edit_response_end"), "ender"));

    private static HttpRequestMessage Request(bool h2c, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/x");
        if (h2c)
        {
            request.Version = HttpVersion.Version20;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    private static async Task<string> MetricAsync(ProxyHarness proxy, string series)
    {
        var line = (await proxy.MetricsAsync()).Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return line?[(series.Length + 1)..] ?? "0";
    }

    private static async Task CountedAsync(ProxyHarness proxy, string code) =>
        await ProxyHarness.EventuallyAsync(async () => await MetricAsync(proxy, $"proxy_requests_total{{code=\"{code}\"}}") == "1", $"one {code} counted");

    private static void AssertNoUnhandledException(ProxyHarness proxy) =>
        Assert.False(proxy.Logs.Contains("unhandled exception"), "log: " + string.Join(" | ", proxy.Logs.Lines));

    /// <summary>An upstream whose response has a content-length and a body that reaches the proxy in several chunks.</summary>
    private static RawUpstream LengthUpstream() =>
        new(RawUpstream.Fixed($"HTTP/1.1 200 OK\r\nContent-Length: {BodyLength}\r\n\r\n" + new string('a', BodyLength)));

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public async Task A_response_field_with_an_empty_name_from_a_plugin_is_a_500_counted_and_logged(bool h2c, bool fast)
    {
        // request_counter adds its count under the name its configuration gives: here none.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("counter", Wat("request_counter"), "counter", config: "")), o => o.Http1Forwarder = fast);

        using var request = Request(h2c);
        var (response, _) = await proxy.SendAsync(request, h2c ? proxy.H2c : proxy.Client);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("the response as plugins left it cannot be sent", await response.Content.ReadAsStringAsync());
        await CountedAsync(proxy, "5xx");
        Assert.True(proxy.Logs.Contains("invalid_response_from_plugins: GET /x answered 500 in place of the upstream's response: the plugins set a response field named ''"),
            "log: " + string.Join(" | ", proxy.Logs.Lines));
        AssertNoUnhandledException(proxy);
    }

    [Theory]
    [InlineData(false, "bad name", "v")]
    [InlineData(true, "bad name", "v")]
    [InlineData(false, "x-t", "a~b")]
    [InlineData(true, "x-t", "a^b")]
    [InlineData(false, "x-t", "a`b")]
    public async Task A_response_field_a_plugin_left_unsendable_is_a_500(bool h2c, string name, string value)
    {
        await using var proxy = await ProxyHarness.StartAsync(Setter);

        using var request = Request(h2c, ("x-resp-name", name), ("x-resp-value", value));
        var (response, echo) = await proxy.SendAsync(request, h2c ? proxy.H2c : proxy.Client);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Null(echo);
        await CountedAsync(proxy, "5xx");
        Assert.True(proxy.Logs.Contains("invalid_response_from_plugins"), "log: " + string.Join(" | ", proxy.Logs.Lines));
        AssertNoUnhandledException(proxy);
    }

    [Theory]
    [InlineData(false, true, "99")]
    [InlineData(true, false, "101")]
    [InlineData(false, false, "1000")]
    [InlineData(true, true, "600")]
    public async Task A_status_a_plugin_set_outside_200_to_599_is_a_500_saying_so(bool h2c, bool fast, string status)
    {
        await using var proxy = await ProxyHarness.StartAsync(Setter, o => o.Http1Forwarder = fast);

        using var request = Request(h2c, ("x-resp-name", ":status"), ("x-resp-value", status));
        var (response, echo) = await proxy.SendAsync(request, h2c ? proxy.H2c : proxy.Client);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Null(echo);
        await CountedAsync(proxy, "5xx");
        Assert.True(proxy.Logs.Contains($"the plugins set :status to {status}, which is no final status; set one from 200 to 599"),
            "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Theory]
    [InlineData("transfer-encoding", "chunked", true)]
    [InlineData("transfer-encoding", "chunked", false)]
    [InlineData("keep-alive", "timeout=5", true)]
    [InlineData("proxy-connection", "keep-alive", false)]
    [InlineData("connection", "close", true)]
    [InlineData("upgrade", "h2c", false)]
    public async Task Connection_fields_a_plugin_sets_on_a_response_are_dropped_as_envoy_drops_them(string name, string value, bool fast)
    {
        await using var proxy = await ProxyHarness.StartAsync(Setter, o => o.Http1Forwarder = fast);

        // The upstream's body is chunked by Kestrel; a plugin's transfer-encoding had made the proxy announce chunks it
        // then did not write, and the client read the body as chunk framing.
        using var request = Request(h2c: false, ("x-resp-name", name), ("x-resp-value", value));
        var (response, echo) = await proxy.SendAsync(request, proxy.Client);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("/x", echo!.Path);
        if (name != "transfer-encoding")
        {
            Assert.False(response.Headers.Contains(name), $"{name} reached the client");
        }
    }

    [Theory]
    [InlineData(false, true, null)]
    [InlineData(true, false, null)]
    [InlineData(false, false, "abc")]
    [InlineData(true, true, "200 OK")]
    [InlineData(false, true, "-")]
    public async Task A_status_a_plugin_removed_or_left_no_number_is_envoys_502(bool h2c, bool fast, string? status)
    {
        await using var proxy = await ProxyHarness.StartAsync(Setter, o => o.Http1Forwarder = fast);

        using var request = status is null ? Request(h2c, ("x-resp-remove", ":status")) : Request(h2c, ("x-resp-name", ":status"), ("x-resp-value", status));
        var (response, echo) = await proxy.SendAsync(request, h2c ? proxy.H2c : proxy.Client);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("missing required header: :status", await response.Content.ReadAsStringAsync());
        Assert.Null(echo);
        await CountedAsync(proxy, "5xx");
        Assert.True(proxy.Logs.Contains("filter_removed_required_response_headers{missing_required_header:_:status}: GET /x answered 502"),
            "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Theory]
    [InlineData(false, true, "grow")]
    [InlineData(true, true, "grow")]
    [InlineData(false, false, "shrink")]
    [InlineData(true, false, "grow")]
    [InlineData(false, true, "shrink")]
    [InlineData(true, true, "shrink")]
    public async Task A_streamed_body_plugins_take_off_its_content_length_resets_the_stream_with_one_line_saying_what_to_do(bool h2c, bool fast, string edit)
    {
        await using var upstream = LengthUpstream();
        await using var proxy = await ProxyHarness.StartAsync(EndEditor, o =>
        {
            o.Http1Forwarder = fast;
            o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
        });

        using var request = Request(h2c, ("x-body-end", edit));
        var failure = await Record.ExceptionAsync(async () =>
        {
            using var response = await (h2c ? proxy.H2c : proxy.Client).SendAsync(request);
            var body = await response.Content.ReadAsByteArrayAsync();
            // A body the client took for whole, which the reset must prevent.
            Assert.Fail($"the client read {body.Length} bytes as the whole body");
        });

        Assert.IsNotType<Xunit.Sdk.FailException>(failure);
        await CountedAsync(proxy, "2xx");
        var verb = edit == "grow" ? "grew the streamed response body past" : "shrank the streamed response body below";
        Assert.True(proxy.Logs.Contains($"invalid_response_from_plugins: GET /x: the plugins {verb} its content-length {BodyLength}"),
            "log: " + string.Join(" | ", proxy.Logs.Lines));
        Assert.True(proxy.Logs.Contains("the response had started, so its stream was reset. Remove content-length in on_response_headers, or hold the body"),
            "log: " + string.Join(" | ", proxy.Logs.Lines));
        AssertNoUnhandledException(proxy);
    }

    [Theory]
    [InlineData(false, true, "204")]
    [InlineData(true, true, "304")]
    [InlineData(false, false, "304")]
    [InlineData(true, false, "204")]
    public async Task A_status_without_content_a_plugin_sets_on_a_response_with_a_body_goes_out_without_the_body(bool h2c, bool fast, string status)
    {
        await using var upstream = LengthUpstream();
        await using var proxy = await ProxyHarness.StartAsync(Setter, o =>
        {
            o.Http1Forwarder = fast;
            o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
        });
        var client = h2c ? proxy.H2c : proxy.Client;

        using var first = Request(h2c, ("x-resp-name", ":status"), ("x-resp-value", status));
        var (response, _) = await proxy.SendAsync(first, client);
        // The connection is still good for the next request: no body bytes were left in it.
        using var second = Request(h2c);
        var (next, _) = await proxy.SendAsync(second, client);

        Assert.Equal(int.Parse(status, System.Globalization.CultureInfo.InvariantCulture), (int)response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(BodyLength, (await next.Content.ReadAsByteArrayAsync()).Length);
        Assert.True(proxy.Logs.Contains($"GET /x: the plugins set :status {status} on the upstream's 200 with a body"), "log: " + string.Join(" | ", proxy.Logs.Lines));
        AssertNoUnhandledException(proxy);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_local_reply_the_plugins_left_without_status_is_a_502_sent_without_them(bool h2c)
    {
        // The setter runs first (the chain is ordered by name) and so saw the request: the replier's answer passes through
        // its response callbacks, which remove :status.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(
            Plugin("a-setter", Wat("set_field_from_request"), "setter"), Plugin("b-replier", Wat("reply_status_from_header"), "replier")));

        using var request = Request(h2c, ("x-reply-status", "403"), ("x-resp-remove", ":status"));
        var (response, _) = await proxy.SendAsync(request, h2c ? proxy.H2c : proxy.Client);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("missing required header: :status", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, proxy.Upstream.Requests);
        await CountedAsync(proxy, "5xx");
        Assert.True(proxy.Logs.Contains("GET /x: the plugins' local reply as they left it cannot be sent, answered 502 without them: the plugins removed :status"),
            "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_response_trailer_value_with_a_line_feed_resets_the_stream_with_a_warning_on_either_path(bool fast)
    {
        // Kestrel refuses it as the response ends. It was this suite's example of an exception nothing handled (a 5xx
        // logged as an unexpected failure, with its stack); response trailers are now checked as the headers are.
        await using var upstream = LengthUpstream();
        await using var proxy = await ProxyHarness.StartAsync(EndEditor, o =>
        {
            o.Http1Forwarder = fast;
            o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
        });

        using var request = Request(h2c: true, ("x-trailer-name", "x-t"), ("x-trailer-value", "a~b"));
        await Record.ExceptionAsync(async () =>
        {
            using var response = await proxy.H2c.SendAsync(request);
            await response.Content.ReadAsByteArrayAsync();
        });

        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains(
            "the plugins set response trailer field x-t to 'a\\nb', which has a control character; fix the plugin that sets it; its body had gone out, so its stream is reset")),
            "the warning naming the field");
        Assert.Equal("0", await MetricAsync(proxy, "proxy_upstream_errors_total"));
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("unexpected failure", StringComparison.Ordinal));
        AssertNoUnhandledException(proxy);
    }
}
