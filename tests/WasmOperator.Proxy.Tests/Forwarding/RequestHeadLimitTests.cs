using System.Net;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// The request head a client may send, as Envoy bounds it (<c>max_request_headers_kb</c>, 60 KiB): the large cookies and
/// tokens that pass through Envoy pass here, on both listeners; past the limit a request gets 431.
/// </summary>
public sealed class RequestHeadLimitTests
{
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    private static Task<ProxyHarness> ProxyToAsync(Uri upstream, int? limitKb = null) =>
        ProxyHarness.StartAsync("plugins: []\n", o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream;
            if (limitKb is { } kb)
            {
                o.MaxRequestHeadersKb = kb;
            }
        });

    [Fact]
    public async Task A_50_KiB_cookie_and_a_10_KiB_url_reach_the_upstream_whole_over_http1()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address);
        var cookie = "session=" + new string('c', 50 * 1024);
        var query = new string('q', 10 * 1024);

        var status = StatusLine(await RawHttp.GetAsync(proxy.Server.Options.Port, $"/big?{query}", headers: ("Cookie", cookie)));

        Assert.Equal("HTTP/1.1 200 OK", status);
        var received = Assert.Single(upstream.Requests);
        Assert.Equal($"GET /big?{query} HTTP/1.1", received.RequestLine);
        Assert.Equal(cookie, received.Header("cookie"));
    }

    [Fact]
    public async Task A_50_KiB_header_reaches_the_upstream_over_h2c()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address);
        var token = "Bearer " + new string('t', 50 * 1024);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/big") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        request.Headers.TryAddWithoutValidation("authorization", token);

        using var response = await proxy.H2c.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(token, Assert.Single(upstream.Requests).Header("authorization"));
    }

    [Fact]
    public async Task A_head_past_the_limit_gets_431_and_never_reaches_the_upstream()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address);
        var fields = Enumerable.Range(0, 8).Select(i => ($"X-Part-{i}", new string('p', 8 * 1024))).ToArray();

        var status = StatusLine(await RawHttp.GetAsync(proxy.Server.Options.Port, "/", headers: fields));

        Assert.Equal("HTTP/1.1 431 Request Header Fields Too Large", status);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task The_limit_is_the_flags()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, limitKb: 8);
        var cookie = "session=" + new string('c', 10 * 1024);

        var status = StatusLine(await RawHttp.GetAsync(proxy.Server.Options.Port, "/", headers: ("Cookie", cookie)));

        Assert.Equal("HTTP/1.1 431 Request Header Fields Too Large", status);
        Assert.Empty(upstream.Requests);
    }

    private static string StatusLine(string response) => response.Split("\r\n", 2)[0];
}
