using System.Net;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>Chain order, match by port, h2c, gRPC local replies and body limits.</summary>
public sealed class ChainTests
{
    [Fact]
    public async Task Request_callbacks_run_in_chain_order_and_response_callbacks_in_reverse()
    {
        // File order is the opposite of chain order: phase then priority decide.
        var yaml = Yaml(
            Plugin("stats-low", Example("showcase"), "showcase", extra: "phase: STATS\npriority: 1"),
            Plugin("add-stats", Example("add_header"), "add_header", "stats", "phase: STATS\npriority: 1"),
            Plugin("stats-high", Example("showcase"), "showcase", extra: "phase: STATS\npriority: 9"),
            Plugin("add-authn", Example("add_header"), "add_header", "authn", "phase: AUTHN"),
            Plugin("authn", Example("showcase"), "showcase", extra: "phase: AUTHN"),
            Plugin("unspecified", Example("showcase"), "showcase"));
        await using var proxy = await ProxyHarness.StartAsync(yaml);
        var (response, echo) = await proxy.GetAsync("/");

        Assert.NotNull(echo);
        // Requests: AUTHN (no priority, ties by name: add-authn, authn), STATS high→low, then UNSPECIFIED.
        // (plugin_name is Istio's: namespace.name.)
        Assert.Equal(["default.authn", "default.stats-high", "default.stats-low", "default.unspecified"], Split(echo.Header("x-plugin-name")));
        // Responses run in reverse: the STATS add_header adds first, the AUTHN one last.
        Assert.Equal(["stats", "authn"], Split(string.Join(",", response.Headers.GetValues("hello"))));
    }

    private static string[] Split(string? values) => [.. (values ?? "").Split(',').Select(v => v.Trim())];

    [Fact]
    public async Task Match_selects_plugins_by_the_destination_port_of_the_workload_not_the_proxys_own()
    {
        var otherPort = FreePort.Next();
        string Yml(int port) => Yaml(
            Plugin("matching", Example("add_header"), "add_header", "matching", $"match:\n- mode: SERVER\n  ports:\n  - number: {port}"),
            Plugin("client-only", Example("add_header"), "add_header", "client", "match:\n- mode: CLIENT"));
        await using var proxy = await ProxyHarness.StartAsync(Yml(otherPort));
        var (response, _) = await proxy.GetAsync("/");
        Assert.False(response.Headers.Contains("hello"));

        // The proxy's own listener port is not a destination port: still no match.
        await proxy.WritePluginsAsync(Yml(proxy.Server.Options.Port));
        await Task.Delay(500);
        Assert.False((await proxy.GetAsync("/")).Response.Headers.Contains("hello"));

        await proxy.WritePluginsAsync(Yml(proxy.Upstream.Port));
        await ProxyHarness.EventuallyAsync(async () => (await proxy.GetAsync("/")).Response.Headers.Contains("hello"), "the port-matched plugin applies");
        var (matched, _) = await proxy.GetAsync("/");
        Assert.Equal(["matching"], matched.Headers.GetValues("hello"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_rewrite_cannot_route_a_request_past_the_plugins_matched_to_the_port_it_now_goes_to(bool logOnlyGuard)
    {
        // The guard is selected for the admin cluster's port only; the rewriter runs everywhere and moves :path.
        await using var admin = await Upstream.StartAsync();
        var guard = $"phase: AUTHZ\nmatch:\n- mode: SERVER\n  ports:\n  - number: {admin.Port}" + (logOnlyGuard ? "\nmode: LOG_ONLY" : "");
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(
                Plugin("rewriter", Wat("set_field_from_request"), "rewriter", extra: "phase: AUTHN"),
                Plugin("admin-guard", Wat("reply_status_from_header"), "guard", extra: guard)),
            o =>
            {
                o.Clusters["adm"] = admin.Address;
                o.Routes.Add(new RouteOption("/admin", "adm"));
            });

        var (direct, _) = await proxy.GetAsync("/admin/secret", ("x-reply-status", "403"));
        var (rewritten, echo) = await proxy.GetAsync("/public/x", ("x-reply-status", "403"), ("x-set-name", ":path"), ("x-set-value", "/admin/secret"));
        var (stays, _) = await proxy.GetAsync("/public/x", ("x-reply-status", "403"), ("x-set-name", ":path"), ("x-set-value", "/public/y"));

        Assert.Equal(HttpStatusCode.OK, stays.StatusCode);
        if (logOnlyGuard)
        {
            // A LOG_ONLY plugin enforces nothing: skipping it refuses nothing.
            Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
            Assert.Equal(HttpStatusCode.OK, rewritten.StatusCode);
            Assert.Equal("/admin/secret", echo?.Path);
            return;
        }

        Assert.Equal(HttpStatusCode.Forbidden, direct.StatusCode);
        Assert.Equal(HttpStatusCode.InternalServerError, rewritten.StatusCode);
        Assert.Null(echo);
        Assert.Equal(0, admin.Requests);
        Assert.True(proxy.Logs.Contains("wasm_reroute_skips_plugins"), "log: " + string.Join(" | ", proxy.Logs.Lines));
        Assert.True(proxy.Logs.Contains("default/admin-guard"), "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Fact]
    public async Task H2c_requests_are_proxied_with_plugins()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "h2")));
        using var response = await proxy.H2c.GetAsync("/h2");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("h2", response.Headers.GetValues("hello").Single());
    }

    [Fact]
    public async Task A_grpc_local_reply_carries_grpc_status_and_message()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("deny", Wat("grpc_deny"), "")));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/pkg.Service/Method")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
        };
        request.Content.Headers.ContentType = new("application/grpc");
        var before = proxy.Upstream.Requests;
        using var response = await proxy.H2c.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("7", response.Headers.GetValues("grpc-status").Single());
        Assert.Equal("blocked by wasm", Uri.UnescapeDataString(response.Headers.GetValues("grpc-message").Single()));
        Assert.Equal(before, proxy.Upstream.Requests);
    }

    [Fact]
    public async Task A_request_body_over_the_buffer_limit_gets_413()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("show", Example("showcase"), "showcase")), o => o.MaxBufferedBodyBytes = 1024);
        using var small = new HttpRequestMessage(HttpMethod.Post, "/body") { Content = new StringContent("ok", Encoding.UTF8) };
        Assert.Equal(HttpStatusCode.OK, (await proxy.SendAsync(small)).Response.StatusCode);

        // Larger than one read, so the plugin pauses with more than the limit held.
        using var large = new HttpRequestMessage(HttpMethod.Post, "/body") { Content = new ByteArrayContent(new byte[64 * 1024]) };
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await proxy.SendAsync(large)).Response.StatusCode);
    }

    [Fact]
    public async Task A_held_request_body_one_byte_over_the_buffer_limit_gets_413_though_its_last_chunk_releases_it()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("show", Example("showcase"), "showcase")), o => o.MaxBufferedBodyBytes = 64 * 1024);

        // Read in chunks of at most 16 KiB: the limit is held before the last byte comes, which the plugin then lets go
        // with all the rest. It went through (200): only what was still held after the plugins ran was checked.
        using var over = new HttpRequestMessage(HttpMethod.Post, "/body") { Content = new ByteArrayContent(new byte[(64 * 1024) + 1]) };
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await proxy.SendAsync(over)).Response.StatusCode);

        using var at = new HttpRequestMessage(HttpMethod.Post, "/body") { Content = new ByteArrayContent(new byte[64 * 1024]) };
        Assert.Equal(HttpStatusCode.OK, (await proxy.SendAsync(at)).Response.StatusCode);
    }

    [Fact]
    public async Task A_held_response_body_over_the_buffer_limit_gets_500_though_its_last_chunk_releases_it()
    {
        // One byte over the limit, which the plugin holds whole until its last chunk (reads of at most 16 KiB).
        var body = new string('x', (64 * 1024) + 1);
        await using var upstream = new RawUpstream(RawUpstream.Fixed($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\n\r\n{body}"));
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("hold", Wat("hold_response_body"), "hold")), o =>
        {
            o.MaxBufferedBodyBytes = 64 * 1024;
            o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
        });

        var (response, _) = await proxy.GetAsync("/big");

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("upstream response too large for the plugin buffer", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Bodies_larger_than_the_buffer_limit_stream_through_plugins_that_do_not_pause()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("show", Example("showcase"), "showcase")), o => o.MaxBufferedBodyBytes = 1024);
        var payload = new string('x', 256 * 1024);
        using var upload = new HttpRequestMessage(HttpMethod.Post, "/stream") { Content = new StringContent(payload, Encoding.UTF8) };
        var (response, echo) = await proxy.SendAsync(upload);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(echo);
        Assert.Equal(payload.Length, echo.Body.Length);
        // The echoed JSON (over 256 KiB) came back through the response body callbacks too.
        Assert.Equal("/stream", echo.Path);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_204_ends_the_stream_at_its_headers_on_both_paths(bool h2c)
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("eos", Wat("response_eos"), "eos")), o => o.Http1Forwarder = !h2c);

        using var response = await GetOnEitherPathAsync(proxy, "/no-content", h2c);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("1", response.Headers.GetValues("x-headers-eos").Single());
        Assert.False(proxy.Logs.Contains("response body callback"), string.Join(" | ", proxy.Logs.Lines));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_response_of_content_length_0_ends_the_stream_at_its_headers_on_both_paths(bool h2c)
    {
        // Envoy's codec takes a zero length for no body: end_of_stream on the headers, no body callback.
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("eos", Wat("response_eos"), "eos")),
            o =>
            {
                o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
                o.Http1Forwarder = !h2c;
            });

        using var response = await GetOnEitherPathAsync(proxy, "/empty", h2c);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("1", response.Headers.GetValues("x-headers-eos").Single());
        Assert.Equal(0, response.Content.Headers.ContentLength);
        Assert.False(proxy.Logs.Contains("response body callback"), string.Join(" | ", proxy.Logs.Lines));
    }

    /// <summary>
    /// A GET over HTTP/1.1 or h2c; the tests send the h2c one through YARP (<see cref="ProxyOptions.Http1Forwarder"/> off, the
    /// path of TLS clusters), the HTTP/1.1 one through the proxy's own forwarder.
    /// </summary>
    private static async Task<HttpResponseMessage> GetOnEitherPathAsync(ProxyHarness proxy, string path, bool h2c)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (h2c)
        {
            request.Version = HttpVersion.Version20;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        return await (h2c ? proxy.H2c : proxy.Client).SendAsync(request);
    }
}
