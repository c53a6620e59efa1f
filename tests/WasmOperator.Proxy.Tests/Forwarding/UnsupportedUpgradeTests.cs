using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.ForwardingPaths;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// An HTTP/1.1 upgrade to anything but a WebSocket, as Envoy answers it on a route whose upgrade_configs name only
/// websocket: 403 (upgrade_failed) and the connection closed, lest upgrade bytes be read as the next request. It was
/// stripped of its Upgrade and forwarded as a plain request. An <c>Upgrade: h2c</c> is dropped and the request served,
/// as Envoy's HTTP/1 codec does. (WebSockets pass: <c>UpgradedStreamBodyTests</c>, <c>StreamIdleTimeoutTests</c>.)
/// </summary>
public sealed class UnsupportedUpgradeTests
{
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    [Theory]
    [InlineData("foo/1", "Upgrade", Via.Fast, false)]
    [InlineData("foo/1", "Upgrade", Via.Yarp, false)]
    [InlineData("foo/1", "Upgrade", Via.Plugin, false)]
    [InlineData("TLS/1.2", "keep-alive, Upgrade", Via.Fast, false)]
    [InlineData("websocket, foo", "Upgrade", Via.Fast, false)]
    [InlineData("foo/1", "upgrade", Via.Fast, true)]
    [InlineData("foo/1", "Upgrade", Via.Plugin, true)]
    public async Task An_upgrade_to_other_than_a_websocket_is_a_403_that_closes_and_never_reaches_the_upstream(string upgrade, string connection, Via path, bool body)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, path);

        // With a body Kestrel does not take the request for an upgrade; Envoy refuses it all the same.
        var head = body ? "POST /x HTTP/1.1\r\nContent-Length: 5\r\n" : "GET /x HTTP/1.1\r\n";
        var reply = await RawHttp.ExchangeAsync(proxy.Server.Options.Port,
            $"{head}Host: app\r\nConnection: {connection}\r\nUpgrade: {upgrade}\r\n\r\n{(body ? "hello" : "")}GET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n",
            TimeSpan.FromSeconds(10));

        Assert.StartsWith("HTTP/1.1 403", reply, StringComparison.Ordinal);
        Assert.Contains($"upgrade '{upgrade}' is not supported", reply, StringComparison.Ordinal);
        Assert.Contains("Connection: close", reply, StringComparison.OrdinalIgnoreCase);
        // Closed after the 403: what followed the upgrade request was never read as a request of its own.
        Assert.DoesNotContain("[still open]", reply, StringComparison.Ordinal);
        Assert.Single(reply.Split("HTTP/1.1 ")[1..]);
        Assert.Empty(upstream.Requests);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_requests_total{code=\"4xx\"} 1", metrics, StringComparison.Ordinal);
        Assert.True(proxy.Logs.Contains($"upgrade '{upgrade}' refused"), string.Join("\n", proxy.Logs.Lines));
    }

    [Theory]
    [InlineData(Via.Fast)]
    [InlineData(Via.Yarp)]
    [InlineData(Via.Plugin)]
    public async Task An_h2c_upgrade_is_dropped_and_the_request_served_as_http11(Via path)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, path);

        // Two requests on one connection: the h2c upgrade is served as an ordinary HTTP/1.1 request, which keeps the
        // connection for the next one, as Envoy does (Java's HttpClient sends such upgrades by default).
        var reply = await RawHttp.ExchangeAsync(proxy.Server.Options.Port,
            "GET /x HTTP/1.1\r\nHost: app\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n" +
            "GET /y HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n",
            TimeSpan.FromSeconds(10));

        Assert.StartsWith("HTTP/1.1 200", reply, StringComparison.Ordinal);
        Assert.Equal(2, reply.Split("HTTP/1.1 200")[1..].Length);
        Assert.DoesNotContain("[still open]", reply, StringComparison.Ordinal);
        Assert.Equal(2, upstream.Requests.Count);
        var first = upstream.Requests.First();
        Assert.StartsWith("GET /x ", first.RequestLine, StringComparison.Ordinal);
        Assert.Null(first.Header("Upgrade"));
        Assert.Null(first.Header("HTTP2-Settings"));
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_requests_total{code=\"2xx\"} 2", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plugins_do_not_see_the_fields_of_an_ignored_h2c_upgrade()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("request headers upgrade", "request headers http2-settings")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        var reply = await RawHttp.ExchangeAsync(proxy.Server.Options.Port,
            "GET /x HTTP/1.1\r\nHost: app\r\nConnection: Upgrade, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
            TimeSpan.FromSeconds(10));

        // Envoy's HTTP/1 codec drops both before any filter runs; they reached the plugins, the request taken for an upgrade.
        Assert.StartsWith("HTTP/1.1 200", reply, StringComparison.Ordinal);
        Assert.False((await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "request headers upgrade")).Found);
        Assert.False((await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "request headers http2-settings")).Found);
    }

    [Fact]
    public async Task An_upgrade_header_without_connection_upgrade_is_no_upgrade_and_passes()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, Via.Fast);

        var reply = await RawHttp.GetAsync(proxy.Server.Options.Port, "/x", "app", ("Upgrade", "foo/1"));

        Assert.StartsWith("HTTP/1.1 200", reply, StringComparison.Ordinal);
        Assert.Null(Assert.Single(upstream.Requests).Header("Upgrade"));
    }
}
