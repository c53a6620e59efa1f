using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
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

    [Fact]
    public async Task A_keep_alive_connection_idle_when_the_drain_starts_gets_its_next_request_answered_with_connection_close()
    {
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n", o => o.DrainTime = TimeSpan.FromMinutes(5));
        using var next = await OpenIdleKeepAliveAsync(proxy.Server.Options.Port);
        using var idle = await OpenIdleKeepAliveAsync(proxy.Server.Options.Port);
        using var endDrainPeriod = new CancellationTokenSource();

        var shutdown = proxy.Server.ShutdownAsync(endDrainPeriod.Token);
        Assert.Equal("draining\n", await (await proxy.Admin.GetAsync("/ready")).Content.ReadAsStringAsync());

        // The client sends its next request on the connection it kept (it cannot know the drain began): closing idle
        // connections at once would lose a request sent as the close crossed it. It is answered, and told to close.
        await next.GetStream().WriteAsync("GET /no-content HTTP/1.1\r\nHost: app\r\n\r\n"u8.ToArray());
        var answer = await ReadToEndAsync(next);
        Assert.StartsWith("HTTP/1.1 204", answer, StringComparison.Ordinal);
        Assert.Contains("\r\nConnection: close\r\n", answer, StringComparison.OrdinalIgnoreCase);

        // A connection still idle when the drain period ends is closed as the listeners stop.
        await endDrainPeriod.CancelAsync();
        Assert.Equal("", await ReadToEndAsync(idle));
        await shutdown;
    }

    [Fact]
    public async Task A_response_that_starts_during_the_drain_carries_connection_close()
    {
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n", o => o.DrainTime = TimeSpan.FromMinutes(5));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        await client.GetStream().WriteAsync("GET /slow HTTP/1.1\r\nHost: app\r\n\r\n"u8.ToArray());
        await proxy.Upstream.SlowStarted.Task;
        using var endDrainPeriod = new CancellationTokenSource();

        var shutdown = proxy.Server.ShutdownAsync(endDrainPeriod.Token);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await proxy.Admin.GetAsync("/ready")).StatusCode);
        proxy.Upstream.ReleaseSlow();

        // Its request came before the drain, its response during it (the listeners still accept, so this close is the
        // drain's, not the stop's): the head says Connection: close and the connection closes after the response.
        var answer = await ReadToEndAsync(client);
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("\r\nConnection: close\r\n", answer, StringComparison.OrdinalIgnoreCase);
        Assert.True(await AcceptsAsync(proxy.Server.Options.Port));
        await endDrainPeriod.CancelAsync();
        await shutdown;
    }

    [Fact]
    public async Task A_request_still_in_flight_at_the_drain_timeout_is_reset_and_counted_in_a_warning()
    {
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n", o => o.DrainTimeout = TimeSpan.FromMilliseconds(500));
        var slow = proxy.GetAsync("/slow");
        await proxy.Upstream.SlowStarted.Task;

        await proxy.Server.StopAsync();

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => slow);
        Assert.True(proxy.Logs.Contains("1 in-flight request(s) have 0.5 s to finish"));
        Assert.Contains(proxy.Logs.Lines, l => l.StartsWith("Warning ", StringComparison.Ordinal) && l.Contains("drain timeout: 1 request(s) still in flight after 0.5 s were reset", StringComparison.Ordinal));
        Assert.False(proxy.Logs.Contains("every in-flight request finished"));
    }

    [Fact]
    public async Task A_request_that_finishes_within_the_drain_timeout_is_counted_and_shutdown_says_every_one_finished()
    {
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n");
        var slow = proxy.GetAsync("/slow");
        await proxy.Upstream.SlowStarted.Task;

        // Released once the stop has begun (it logs before it first waits): the request finishes during the drain.
        var stop = proxy.Server.StopAsync();
        proxy.Upstream.ReleaseSlow();
        await stop;

        Assert.Equal(HttpStatusCode.OK, (await slow).Response.StatusCode);
        Assert.True(proxy.Logs.Contains("1 in-flight request(s) have 10 s to finish"));
        Assert.True(proxy.Logs.Contains("every in-flight request finished"));
        Assert.False(proxy.Logs.Contains("drain timeout"));
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

    /// <summary>A keep-alive HTTP/1.1 connection that has had one request answered and is idle.</summary>
    private static async Task<TcpClient> OpenIdleKeepAliveAsync(int port)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await client.GetStream().WriteAsync("GET /no-content HTTP/1.1\r\nHost: app\r\n\r\n"u8.ToArray());
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var head = await StreamText.ReadUntilAsync(client.GetStream(), "\r\n\r\n", guard.Token);
        Assert.StartsWith("HTTP/1.1 204", head, StringComparison.Ordinal);
        Assert.DoesNotContain("Connection: close", head, StringComparison.OrdinalIgnoreCase);
        return client;
    }

    /// <summary>What comes until the proxy closes the connection; a reset ends it too (what a client would see then).</summary>
    private static async Task<string> ReadToEndAsync(TcpClient client)
    {
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var received = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await client.GetStream().ReadAsync(buffer, guard.Token)) > 0)
            {
                received.Append(Encoding.Latin1.GetString(buffer, 0, read));
            }
        }
        catch (IOException)
        {
        }

        return received.ToString();
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
