using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A client that goes away before its response is counted as a downstream reset (Envoy's DC), with no response class
/// and no error log, on every path: a hung upstream without plugins counted 2xx (the default status), and a client that
/// reset while a plugin held its body vanished from every counter and logged an unhandled exception at error level.
/// </summary>
public sealed class ClientAbortAccountingTests
{
    private static async Task<string> MetricAsync(ProxyHarness proxy, string series)
    {
        var line = (await proxy.MetricsAsync()).Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return line?[(series.Length + 1)..] ?? "0";
    }

    private static async Task<TcpClient> ConnectAsync(ProxyHarness proxy)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        return client;
    }

    [Fact]
    public async Task A_client_that_leaves_while_the_upstream_hangs_is_a_downstream_reset_not_a_2xx()
    {
        await using var upstream = await HangingUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n", o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        using (var client = await ConnectAsync(proxy))
        {
            await client.GetStream().WriteAsync(Encoding.ASCII.GetBytes("GET /hang HTTP/1.1\r\nHost: a\r\n\r\n"));
            await upstream.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }

        await ProxyHarness.EventuallyAsync(async () => await MetricAsync(proxy, "proxy_downstream_resets_total") == "1", "the reset to be counted");
        Assert.Equal("0", await MetricAsync(proxy, "proxy_requests_total{code=\"2xx\"}"));
        Assert.Equal("0", await MetricAsync(proxy, "proxy_upstream_errors_total"));
    }

    [Fact]
    public async Task A_client_that_resets_while_a_plugin_holds_its_body_is_a_downstream_reset_without_an_error_log()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("hold", Wat("hold_request_body"), "hold")));

        using (var client = await ConnectAsync(proxy))
        {
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n"));
            await stream.WriteAsync(new byte[30_000]);
            await ProxyHarness.EventuallyAsync(async () => await MetricAsync(proxy, "wasm_plugin_requests_total{plugin=\"default/hold\"}") == "1", "the plugin to see the request");
            await Task.Delay(200);
            client.LingerState = new LingerOption(true, 0); // a reset, not a close
        }

        await ProxyHarness.EventuallyAsync(async () => await MetricAsync(proxy, "proxy_downstream_resets_total") == "1",
            "the reset to be counted; log: " + string.Join(" | ", proxy.Logs.Lines));
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("stream on_delete")), "the plugin's context to be released");
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal));
        Assert.Equal(0, proxy.Upstream.Requests);
        foreach (var code in new[] { "2xx", "4xx", "5xx" })
        {
            Assert.Equal("0", await MetricAsync(proxy, $"proxy_requests_total{{code=\"{code}\"}}"));
        }
    }
}
