using System.Net;
using System.Net.Sockets;
using System.Text;
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

        var status = await StatusOfAsync(proxy.Server.Options.Port, $"GET /big?{query} HTTP/1.1\r\nHost: app\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");

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
        var fields = string.Concat(Enumerable.Range(0, 8).Select(i => $"X-Part-{i}: {new string('p', 8 * 1024)}\r\n"));

        var status = await StatusOfAsync(proxy.Server.Options.Port, $"GET / HTTP/1.1\r\nHost: app\r\n{fields}Connection: close\r\n\r\n");

        Assert.Equal("HTTP/1.1 431 Request Header Fields Too Large", status);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task The_limit_is_the_flags()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed(Ok));
        await using var proxy = await ProxyToAsync(upstream.Address, limitKb: 8);
        var cookie = "session=" + new string('c', 10 * 1024);

        var status = await StatusOfAsync(proxy.Server.Options.Port, $"GET / HTTP/1.1\r\nHost: app\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");

        Assert.Equal("HTTP/1.1 431 Request Header Fields Too Large", status);
        Assert.Empty(upstream.Requests);
    }

    /// <summary>Sends <paramref name="request"/> as it is and reads until the proxy closes; returns the status line.</summary>
    private static async Task<string> StatusOfAsync(int port, string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.Latin1);
        var all = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(20));
        var end = all.IndexOf("\r\n", StringComparison.Ordinal);
        return end < 0 ? all : all[..end];
    }
}
