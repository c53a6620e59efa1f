using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.ForwardingPaths;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// A request that names no host: Envoy's connection manager answers it 400 (missing_host_header) unless
/// <c>default_host_for_http_10</c> gives an HTTP/1.0 request one. Forwarded, it went upstream with the upstream's own
/// address as its Host. Kestrel itself answers an HTTP/1.1 request without Host 400; HTTP/1.0 and HTTP/2 reach the proxy.
/// </summary>
public sealed class MissingHostTests
{
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    [Theory]
    [InlineData(Via.Fast)]
    [InlineData(Via.Yarp)]
    [InlineData(Via.Plugin)]
    public async Task An_http10_request_without_host_is_a_400_that_never_reaches_the_upstream(Via path)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, path);

        var reply = await RawHttp.ExchangeAsync(proxy.Server.Options.Port, "GET /x HTTP/1.0\r\n\r\n", TimeSpan.FromSeconds(10));

        Assert.StartsWith("HTTP/1.1 400", reply, StringComparison.Ordinal);
        Assert.Contains("the request names no host", reply, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_upstream_errors_total 0", metrics, StringComparison.Ordinal);
        Assert.Contains("proxy_requests_total{code=\"4xx\"} 1", metrics, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Via.Fast)]
    [InlineData(Via.Plugin)]
    public async Task An_http10_request_with_host_still_passes(Via path)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, path);

        var reply = await RawHttp.ExchangeAsync(proxy.Server.Options.Port, "GET /x HTTP/1.0\r\nHost: app\r\n\r\n", TimeSpan.FromSeconds(10));

        Assert.StartsWith("HTTP/1.1 200", reply, StringComparison.Ordinal);
        Assert.Equal("app", Assert.Single(upstream.Requests).Header("Host"));
    }

    [Theory]
    [InlineData(Via.Fast)]
    [InlineData(Via.Yarp)]
    [InlineData(Via.Plugin)]
    public async Task An_http10_request_in_absolute_form_without_host_goes_up_with_the_host_its_target_names(Via path)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, path);

        var reply = await RawHttp.ExchangeAsync(proxy.Server.Options.Port, "GET http://user@abs.example:8080/a?q=1 HTTP/1.0\r\n\r\n", TimeSpan.FromSeconds(10));

        // RFC 9112 §3.2.2: the target's authority (without userinfo) is the host, as Envoy's codec makes it the Host.
        Assert.StartsWith("HTTP/1.1 200", reply, StringComparison.Ordinal);
        var request = Assert.Single(upstream.Requests);
        Assert.Equal("abs.example:8080", request.Header("Host"));
        Assert.StartsWith("GET /a?q=1 ", request.RequestLine, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HTTP/1.1")]
    [InlineData("HTTP/1.0")]
    public async Task An_empty_host_goes_up_empty_not_as_the_upstreams_address(string version)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, Via.Fast);

        var reply = await RawHttp.ExchangeAsync(proxy.Server.Options.Port, $"GET /x {version}\r\nHost:\r\n\r\n", TimeSpan.FromSeconds(10));

        // RFC 9110 §7.2 lets a Host be empty, and Envoy forwards it as it came; it went up as the upstream's host:port.
        Assert.StartsWith("HTTP/1.1 200", reply, StringComparison.Ordinal);
        Assert.Equal("", Assert.Single(upstream.Requests).Header("Host"));
    }

    [Fact]
    public async Task An_http11_request_without_host_is_refused_by_kestrel_before_the_proxy()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, Via.Fast);

        var reply = await RawHttp.ExchangeAsync(proxy.Server.Options.Port, "GET /x HTTP/1.1\r\n\r\n", TimeSpan.FromSeconds(10));

        Assert.StartsWith("HTTP/1.1 400", reply, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_h2c_request_without_authority_or_host_is_a_400_that_never_reaches_the_upstream(bool http1Forwarder)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, http1Forwarder ? Via.Fast : Via.Yarp);

        var reply = await RawHttp.SendH2Async(proxy.Server.Options.H2cPort, [(":method", "GET"), (":scheme", "http"), (":path", "/x")]);

        Assert.Equal(400, reply.Status);
        Assert.Contains("the request names no host", reply.Body, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("proxy_requests_total{code=\"4xx\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_h2c_request_with_a_host_field_and_no_authority_still_passes()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, Via.Fast);

        var reply = await RawHttp.SendH2Async(proxy.Server.Options.H2cPort, [(":method", "GET"), (":scheme", "http"), (":path", "/x"), ("host", "app")]);

        Assert.Equal(200, reply.Status);
        Assert.Equal("app", Assert.Single(upstream.Requests).Header("Host"));
    }
}
