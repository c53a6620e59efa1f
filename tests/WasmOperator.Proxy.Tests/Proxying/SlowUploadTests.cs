using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// An upload whose body is slow to come waits for its body's first bytes through a plugin (so the plugin decides
/// on them first); when forwarding then fails (the upstream cannot be reached), the client's connection is left
/// as it should be.
/// </summary>
public sealed class SlowUploadTests
{
    [Fact]
    public async Task A_slow_upload_to_an_unreachable_upstream_gets_its_503_once_its_body_came_and_the_connection_serves_the_next_request()
    {
        // A port bound but not listening refuses connections, and no other test can take it meanwhile.
        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("pass", Wat("pass_through"), "pass")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = new Uri($"http://{closed.LocalEndPoint}"));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();

        await stream.WriteAsync("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"u8.ToArray());
        await Task.Delay(300);
        await stream.WriteAsync("5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"u8.ToArray());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var replies = await new StreamReader(stream, Encoding.ASCII).ReadToEndAsync(timeout.Token);

        // Both answered on the one connection: the upload's 503 and the next request's.
        Assert.StartsWith("HTTP/1.1 503", replies, StringComparison.Ordinal);
        Assert.Equal(2, replies.Split("HTTP/1.1 503").Length - 1);
        await Task.Delay(200);
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal));
    }
}
