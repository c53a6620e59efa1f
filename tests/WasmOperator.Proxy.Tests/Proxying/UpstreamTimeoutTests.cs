using System.Net;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// The upstream timeout is an activity timeout (an upstream that moves no byte for that long), with or without plugins,
/// through the proxy's own forwarder (the HTTP/1.1 client here) and through YARP (the h2c one, with
/// <see cref="ProxyOptions.Http1Forwarder"/> off, as for TLS clusters): a response that keeps streaming for longer than it (a
/// download, server-sent events) reaches the client whole; one that stops moving is ended. Upstream timeout 3 s here.
/// </summary>
public sealed class UpstreamTimeoutTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    private static string Plugins(bool withPlugin) => withPlugin ? Yaml(Plugin("pass", Wat("pass_through"), "pass")) : "plugins: []\n";

    /// <summary>A chunked response of <paramref name="pieces"/> two-byte chunks, one every 250 ms, then (if <paramref name="stallAfter"/>) a stall.</summary>
    private static RawUpstream Trickle(int pieces, TaskCompletionSource? stallAfter = null) => new(async (_, stream) =>
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
        for (var i = 0; i < pieces; i++)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"2\r\n{i % 10}.\r\n"));
            await Task.Delay(250);
        }

        if (stallAfter is not null)
        {
            await stallAfter.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }

        await stream.WriteAsync("0\r\n\r\n"u8.ToArray());
        return true;
    });

    private static HttpRequestMessage Get(bool h2c) => h2c
        ? new HttpRequestMessage(HttpMethod.Get, "/download") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact }
        : new HttpRequestMessage(HttpMethod.Get, "/download");

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task A_response_that_keeps_moving_for_longer_than_the_upstream_timeout_arrives_whole(bool h2c, bool withPlugin)
    {
        // Sixteen pieces over 4 s: more than the timeout in all, never 3 s without a byte (a busy machine once stalled the
        // copy past a 1.5 s timeout with pieces 250 ms apart).
        await using var upstream = Trickle(16);
        await using var proxy = await ProxyHarness.StartAsync(Plugins(withPlugin), o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
            o.UpstreamTimeout = Timeout;
            o.Http1Forwarder = !h2c;
        });

        using var response = await (h2c ? proxy.H2c : proxy.Client).SendAsync(Get(h2c), HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("0.1.2.3.4.5.6.7.8.9.0.1.2.3.4.5.", body);
        Assert.False(proxy.Logs.Contains("upstream request timeout (UT)"), "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    /// <param name="withPlugin">
    /// Without plugins through YARP (h2c), YARP's activity timer ends it: that was logged as the upstream's connection
    /// ending (UC, "the operation was canceled"), not as the upstream timeout it is.
    /// </param>
    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public async Task A_response_that_stops_moving_is_ended_after_the_upstream_timeout(bool h2c, bool withPlugin)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = Trickle(2, stallAfter: release);
        await using var proxy = await ProxyHarness.StartAsync(Plugins(withPlugin), o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
            o.UpstreamTimeout = Timeout;
            o.Http1Forwarder = !h2c;
        });

        try
        {
            using var response = await (h2c ? proxy.H2c : proxy.Client).SendAsync(Get(h2c), HttpCompletionOption.ResponseHeadersRead);
            var cut = await Record.ExceptionAsync(() => response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(10)));

            Assert.True(cut is HttpRequestException or IOException, $"the stalled response was not reset: {cut?.GetType().Name ?? "complete"}");
            await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("upstream request timeout (UT)")),
                "the timeout to be logged; log: " + string.Join(" | ", proxy.Logs.Lines));
            Assert.False(proxy.Logs.Contains("(UC)"), "log: " + string.Join(" | ", proxy.Logs.Lines));
        }
        finally
        {
            release.SetResult();
        }
    }

    /// <summary>
    /// A response whose head came but whose body never starts: the client gets the head only with the first bytes, so the
    /// upstream timeout answers Envoy's 504 (UT). Without plugins through YARP it was a bare 503 or 502 blamed on the
    /// upstream's connection (UC, "the operation was canceled").
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task A_response_whose_body_never_starts_is_a_504_after_the_upstream_timeout(bool h2c, bool withPlugin)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // With a length: an h2c client gets the head of a response without one at once (ResponseHead.GoesAhead).
        await using var upstream = new RawUpstream(async (_, stream) =>
        {
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"u8.ToArray());
            await release.Task.WaitAsync(TimeSpan.FromSeconds(30));
            return false;
        });
        await using var proxy = await ProxyHarness.StartAsync(Plugins(withPlugin), o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
            o.UpstreamTimeout = Timeout;
            o.Http1Forwarder = !h2c;
        });

        try
        {
            using var response = await (h2c ? proxy.H2c : proxy.Client).SendAsync(Get(h2c)).WaitAsync(TimeSpan.FromSeconds(10));

            Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
            await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("upstream request timeout (UT)")),
                "the timeout to be logged; log: " + string.Join(" | ", proxy.Logs.Lines));
            Assert.False(proxy.Logs.Contains("(UC)"), "log: " + string.Join(" | ", proxy.Logs.Lines));
        }
        finally
        {
            release.SetResult();
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_upstream_that_never_answers_an_h2c_request_through_a_plugin_is_504_after_the_upstream_timeout(bool http1Forwarder)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = new RawUpstream(async (_, _) =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(30));
            return false;
        });
        await using var proxy = await ProxyHarness.StartAsync(Plugins(withPlugin: true), o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
            o.UpstreamTimeout = Timeout;
            o.Http1Forwarder = http1Forwarder;
        });

        try
        {
            using var response = await proxy.H2c.SendAsync(Get(h2c: true));

            Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
            Assert.Equal("upstream request timeout", await response.Content.ReadAsStringAsync());
            Assert.Contains("proxy_upstream_errors_total 1", await proxy.MetricsAsync(), StringComparison.Ordinal);
        }
        finally
        {
            release.SetResult();
        }
    }
}
