using Microsoft.Extensions.Logging.Abstractions;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Metrics;
using WasmOperator.Proxy.Proxying;
using WasmOperator.Proxy.Tests.Support;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// What goes out for a plugin's <c>proxy_http_call</c>: its headers, without the fields that frame or manage the
/// plugin's own connection (the auth example forwards the client's), and its body with its own length. A request the
/// proxy cannot send as asked fails the callout and leaves a warning naming the plugin, the cluster and why.
/// </summary>
public sealed class CalloutRequestTests
{
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

    private static HttpCalloutRequest Request(string method, byte[] body, params (string Name, string Value)[] headers)
    {
        var map = new HeaderMap();
        map.Add(":method", method);
        map.Add(":path", "/check");
        map.Add(":authority", "authz");
        foreach (var (name, value) in headers)
        {
            map.Add(name, value);
        }

        return new HttpCalloutRequest("authz", map, body, new HeaderMap(0), TimeSpan.FromSeconds(10));
    }

    private static (PluginHost Host, CalloutClient Callouts, LogSink Logs) Host(Uri cluster)
    {
        var options = new ProxyOptions();
        options.Clusters["authz"] = cluster;
        var callouts = new CalloutClient(options);
        var logs = new LogSink();
        var metrics = new ProxyMetrics(NullLogger<ProxyMetrics>.Instance).For("default/auth");
        return (new PluginHost("default/auth", options, callouts, metrics, logs.CreateLogger(PluginHost.LogCategory)), callouts, logs);
    }

    [Theory]
    [InlineData("POST", "", "0")]
    [InlineData("POST", "hello", "5")]
    [InlineData("PUT", "hi", "2")]
    public async Task The_plugins_framing_and_connection_fields_are_dropped_and_the_body_has_its_own_length(string method, string body, string length)
    {
        await using var cluster = new RawUpstream(RawUpstream.Fixed(Ok));
        var (host, callouts, logs) = Host(cluster.Address);
        using var _ = callouts;

        var response = await host.SendHttpCalloutAsync(
            Request(method, System.Text.Encoding.ASCII.GetBytes(body),
                ("Content-Length", "3"), ("transfer-encoding", "chunked"), ("connection", "Upgrade"), ("upgrade", "websocket"),
                ("keep-alive", "timeout=5"), ("proxy-connection", "keep-alive"), ("expect", "100-continue"), ("x-user", "alice")),
            CancellationToken.None);

        Assert.Equal("200", response.Headers.Get(":status"));
        var sent = Assert.Single(cluster.Requests);
        Assert.Equal($"{method} /check HTTP/1.1", sent.RequestLine);
        Assert.Equal(length, sent.Header("content-length"));
        Assert.Equal(body, System.Text.Encoding.ASCII.GetString(sent.Body));
        Assert.Equal("alice", sent.Header("x-user"));
        Assert.Equal("authz", sent.Header("host"));
        Assert.All(new[] { "transfer-encoding", "connection", "upgrade", "keep-alive", "proxy-connection", "expect" }, name => Assert.Null(sent.Header(name)));
        Assert.Empty(logs.Lines);
    }

    [Theory]
    [InlineData("GE T", "x-user", "alice", ":method 'GE T' is not an HTTP method token")]
    [InlineData("GET", "x-user", "alice\r\nx-admin: yes", "header 'x-user' has a CR, LF or NUL in its value")]
    public async Task A_callout_the_proxy_cannot_send_fails_and_is_logged_with_the_plugin_the_cluster_and_why(string method, string name, string value, string reason)
    {
        await using var cluster = new RawUpstream(RawUpstream.Fixed(Ok));
        var (host, callouts, logs) = Host(cluster.Address);
        using var _ = callouts;

        await Assert.ThrowsAsync<CalloutNotSentException>(() => host.SendHttpCalloutAsync(Request(method, [], (name, value)), CancellationToken.None));

        Assert.Equal(0, cluster.Connections);
        var line = Assert.Single(logs.Lines);
        Assert.StartsWith($"Warning {PluginHost.LogCategory}: plugin default/auth: HTTP callout to cluster 'authz' not sent: {reason};", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/echo?x=1 HTTP/1.0", "has a space, a control character or a byte outside ASCII")]
    [InlineData("/echo\tz", "has a space, a control character or a byte outside ASCII")]
    [InlineData("/echo?q=\u00ff\u00fe", "has a space, a control character or a byte outside ASCII")]
    [InlineData("/echo#frag", "has a fragment")]
    [InlineData("check", "does not start with '/'")]
    [InlineData("http://evil/x", "does not start with '/'")]
    [InlineData("*", "does not start with '/'")]
    public async Task A_callout_path_a_forwarded_request_could_not_have_is_refused_before_anything_is_sent_and_logged(string path, string reason)
    {
        // Written raw, "/echo?x=1 HTTP/1.0" forged the request line and bytes above 0x7F went out as NUL.
        await using var cluster = new RawUpstream(RawUpstream.Fixed(Ok));
        var (host, callouts, logs) = Host(cluster.Address);
        using var client = callouts;
        var request = Request("GET", []);
        request.Headers.Set(":path", path);

        // Thrown by the call itself: proxy_http_call answers BAD_ARGUMENT and no response follows.
        var refused = Assert.Throws<CalloutRefusedException>(() => { _ = host.SendHttpCalloutAsync(request, CancellationToken.None); });

        Assert.Equal(CalloutRefusal.InvalidRequest, refused.Reason);
        Assert.Equal(0, cluster.Connections);
        var line = Assert.Single(logs.Lines);
        Assert.StartsWith($"Warning {PluginHost.LogCategory}: plugin default/auth: HTTP callout to cluster 'authz' refused: :path: request target '", line, StringComparison.Ordinal);
        Assert.Contains(reason, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plugin_making_the_same_bad_callout_on_every_request_is_warned_about_once_a_second_not_once_each()
    {
        await using var cluster = new RawUpstream(RawUpstream.Fixed(Ok));
        var (host, callouts, logs) = Host(cluster.Address);
        using var client = callouts;

        for (var i = 0; i < 50; i++)
        {
            var request = Request("GET", []);
            request.Headers.Set(":path", "/x y");
            Assert.Throws<CalloutRefusedException>(() => { _ = host.SendHttpCalloutAsync(request, CancellationToken.None); });
        }

        // 50 in well under a second here; a slow machine may take a second or two, never fifty lines.
        Assert.InRange(logs.Lines.Count, 1, 5);
    }

    [Fact]
    public async Task A_callout_the_cluster_refuses_is_the_routers_503_and_logs_nothing()
    {
        var (host, callouts, logs) = Host(new Uri($"http://127.0.0.1:{FreePort.Next()}"));
        using var _ = callouts;

        var response = await host.SendHttpCalloutAsync(Request("GET", []), CancellationToken.None);

        Assert.Equal("503", response.Headers.Get(":status"));
        Assert.Empty(logs.Lines);
    }
}
