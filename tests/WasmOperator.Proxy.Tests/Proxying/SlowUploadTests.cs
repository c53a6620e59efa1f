using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// An upload whose body is slow to come goes upstream ahead of its body through a plugin; when forwarding ends
/// before the body was read (the upstream cannot be reached), the client's connection is left as it should be.
/// </summary>
public sealed class SlowUploadTests
{
    [Fact]
    public async Task A_slow_upload_to_an_unreachable_upstream_gets_its_503_and_the_connection_serves_the_next_request()
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
        var first = await ReadResponseAsync(stream);
        Assert.StartsWith("HTTP/1.1 503", first, StringComparison.Ordinal);

        await stream.WriteAsync("5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray());
        var second = await ReadResponseAsync(stream);
        Assert.StartsWith("HTTP/1.1 503", second, StringComparison.Ordinal);
        await Task.Delay(200);
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal));
    }

    /// <summary>Reads one response with a content-length body.</summary>
    private static async Task<string> ReadResponseAsync(NetworkStream stream)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (true)
        {
            var head = text.ToString().IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (head >= 0)
            {
                var lengthLine = text.ToString()[..head].Split("\r\n").FirstOrDefault(l => l.StartsWith("content-length:", StringComparison.OrdinalIgnoreCase));
                var length = lengthLine is null ? 0 : int.Parse(lengthLine.Split(':')[1].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                if (text.Length >= head + 4 + length)
                {
                    return text.ToString();
                }
            }

            var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            if (read == 0)
            {
                return text.ToString();
            }

            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
    }
}
