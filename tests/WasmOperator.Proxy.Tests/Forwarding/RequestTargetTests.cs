using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>The request-target forms of RFC 9112 §3.2 as they leave the fast path, and a target no request line can carry.</summary>
public sealed class RequestTargetTests
{
    [Fact]
    public async Task A_server_wide_options_request_keeps_its_asterisk_target()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nAllow: GET, POST\r\nContent-Length: 0\r\n\r\n"));
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n", o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        // HttpClient cannot send the asterisk form: written raw.
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var reply = await new StreamReader(stream, Encoding.ASCII).ReadToEndAsync(timeout.Token);

        Assert.StartsWith("HTTP/1.1 200", reply, StringComparison.Ordinal);
        Assert.Equal("OPTIONS * HTTP/1.1", Assert.Single(upstream.Requests).RequestLine);
    }

    [Fact]
    public async Task A_del_in_an_http11_target_is_a_400_as_the_other_controls_are()
    {
        // Kestrel's parser refuses a space, the controls and bytes above 0x7F in a target, but lets DEL through.
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n", o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        var reply = await RawHttp.GetAsync(proxy.Server.Options.Port, "/q?a\u007fb");

        Assert.StartsWith("HTTP/1.1 400", reply, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }
}
