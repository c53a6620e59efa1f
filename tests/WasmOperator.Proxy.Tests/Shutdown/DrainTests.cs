using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Shutdown;

/// <summary>Graceful shutdown: not ready at once, accept while draining, then stop, the admin listener last.</summary>
public sealed class DrainTests
{
    [Fact]
    public async Task Draining_keeps_accepting_asks_clients_to_close_and_admin_reports_it_until_the_end()
    {
        // A drain period far longer than the test: it is ended by cancelling, as a second SIGTERM does.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "drained")), o => o.DrainTime = TimeSpan.FromMinutes(5));
        var slow = proxy.GetAsync("/slow");
        await proxy.Upstream.SlowStarted.Task;
        using var h2 = await OpenHttp2Async(proxy.Server.Options.H2cPort);
        using var endDrainPeriod = new CancellationTokenSource();

        var shutdown = proxy.Server.ShutdownAsync(endDrainPeriod.Token);

        var ready = await proxy.Admin.GetAsync("/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal("draining\n", await ready.Content.ReadAsStringAsync());

        // A client that still sends here (the endpoint is being removed) is served, and told to close.
        using (var late = new HttpClient { BaseAddress = proxy.Client.BaseAddress })
        {
            var response = await late.GetAsync("/late");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(response.Headers.ConnectionClose);
        }

        Assert.Equal(HttpStatusCode.OK, (await proxy.H2c.GetAsync("/late-h2")).StatusCode);
        await ReadUntilGoAwayAsync(h2);

        // The drain period ends: the data listeners stop; in-flight requests finish; admin still answers.
        await endDrainPeriod.CancelAsync();
        await ProxyHarness.EventuallyAsync(async () => !await AcceptsAsync(proxy.Server.Options.Port), "the data listener to stop");
        Assert.Equal("draining\n", await (await proxy.Admin.GetAsync("/ready")).Content.ReadAsStringAsync());
        Assert.False(shutdown.IsCompleted);

        proxy.Upstream.ReleaseSlow();
        var (slowResponse, echo) = await slow;
        await shutdown;
        Assert.Equal(HttpStatusCode.OK, slowResponse.StatusCode);
        Assert.Equal("drained", slowResponse.Headers.GetValues("hello").Single());
        Assert.True(slowResponse.Headers.ConnectionClose);
        Assert.Equal("/slow", echo?.Path);
        Assert.False(await AcceptsAsync(proxy.Server.Options.AdminPort));
    }

    [Fact]
    public async Task Sigterm_starts_the_drain_and_a_second_one_ends_it()
    {
        await using var upstream = await Upstream.StartAsync();
        var (port, admin) = (FreePort.Next(), FreePort.Next());
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
                 {
                     "exec", Path.Combine(AppContext.BaseDirectory, "WasmOperator.Proxy.dll"), "--listen", "127.0.0.1", "--port", Text(port),
                     "--admin-port", Text(admin), "--h2c-port", "0", "--status-port", "0", "--upstream", upstream.Address.ToString(), "--drain-time", "300", "--drain-timeout", "5",
                 })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("the proxy did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        try
        {
            using var http = new HttpClient();
            await ProxyHarness.EventuallyAsync(async () => await StatusAsync(http, admin, "/ready") == HttpStatusCode.OK, "the proxy to be ready");

            Signal(process, "TERM");

            await ProxyHarness.EventuallyAsync(async () => await StatusAsync(http, admin, "/ready") == HttpStatusCode.ServiceUnavailable, "not ready after SIGTERM");
            using (var late = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/late")))
            {
                Assert.Equal(HttpStatusCode.OK, late.StatusCode);
                Assert.True(late.Headers.ConnectionClose);
            }

            Assert.False(process.HasExited);
            Signal(process, "TERM");
            using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await process.WaitForExitAsync(guard.Token);
            Assert.Equal(0, process.ExitCode);
            Assert.Contains("shutting down: not ready", await output, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static void Signal(Process process, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, Text(process.Id)]);
        kill.WaitForExit();
    }

    private static async Task<HttpStatusCode?> StatusAsync(HttpClient http, int port, string path)
    {
        try
        {
            using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"));
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>An idle HTTP/2 connection: preface and SETTINGS sent, the server's SETTINGS read, no stream open.</summary>
    private static async Task<TcpClient> OpenHttp2Async(int port)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await client.GetStream().WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray().Concat(new byte[] { 0, 0, 0, 4, 0, 0, 0, 0, 0 }).ToArray());
        Assert.Equal(4, await ReadFrameAsync(client));
        return client;
    }

    private static async Task ReadUntilGoAwayAsync(TcpClient client)
    {
        while (await ReadFrameAsync(client) != 7)
        {
        }
    }

    /// <summary>Reads one frame; returns its type.</summary>
    private static async Task<byte> ReadFrameAsync(TcpClient client)
    {
        var header = new byte[9];
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await client.GetStream().ReadExactlyAsync(header, guard.Token);
        await client.GetStream().ReadExactlyAsync(new byte[(header[0] << 16) | (header[1] << 8) | header[2]], guard.Token);
        return header[3];
    }
}
