using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>How long a client's keep-alive connection may stay idle: Envoy's connection manager idle_timeout (1 h).</summary>
public sealed class IdleConnectionTests
{
    [Fact]
    public void A_client_connection_may_stay_idle_an_hour_as_through_Envoy_and_the_flag_sets_it()
    {
        Assert.Equal(TimeSpan.FromHours(1), new ProxyOptions().IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(90), ProxyArguments.Parse(["--idle-timeout", "90"]).IdleTimeout);
    }

    [Fact]
    public async Task A_keep_alive_connection_idle_for_the_timeout_is_closed()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n", o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
            o.IdleTimeout = TimeSpan.FromSeconds(1);
        });
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync("GET / HTTP/1.1\r\nHost: app\r\n\r\n"u8.ToArray());

        // The response, then nothing more: the proxy closes the idle connection (Kestrel's own would keep it 130 s).
        var received = new StringBuilder();
        var buffer = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(20))) > 0)
        {
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        Assert.StartsWith("HTTP/1.1 200 OK", received.ToString(), StringComparison.Ordinal);
        Assert.EndsWith("ok", received.ToString(), StringComparison.Ordinal);
    }
}
