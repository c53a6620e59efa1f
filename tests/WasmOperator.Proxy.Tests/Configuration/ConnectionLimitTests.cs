using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;

namespace WasmOperator.Proxy.Tests.Configuration;

/// <summary>
/// Client connections are capped below the open-file limit: past it, Kestrel retried accept() in a tight loop and the
/// runtime, unable to open anything, aborted the process ("Out of memory.") with every connection on it.
/// </summary>
public sealed class ConnectionLimitTests
{
    [Theory]
    [InlineData(1024, 128)]
    [InlineData(400, 24)]
    [InlineData(260, 16)]
    [InlineData(1_048_576, 174_720)]
    public void Client_connections_per_listener_get_a_sixth_of_what_the_reserve_leaves_of_the_open_file_limit(long openFiles, int expected) =>
        Assert.Equal(expected, OpenFileLimit.MaxConnectionsFor(openFiles));

    [Fact]
    public async Task More_idle_connections_than_the_open_file_limit_allows_are_closed_on_arrival_and_the_proxy_keeps_serving()
    {
        await using var upstream = await Upstream.StartAsync();
        // A port FreePort released can be taken by another test process before the proxy binds it: the proxy then exits,
        // and that other process may answer on it. Started again with new ports, as in-process starters are (FreePort).
        var (process, port, output) = await StartProxyAsync(upstream.Address);
        using var owned = process;
        var held = new List<Socket>();
        try
        {

            // 400 descriptors leave room for (400 - 256) / 6 = 24 client connections per listener; 300 would exhaust them.
            for (var i = 0; i < 300; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(IPAddress.Loopback, port);
                held.Add(socket);
            }

            await ProxyHarness.EventuallyAsync(() => Task.FromResult(held.Count(ClosedByServer) >= 300 - 24), "the connections past the limit to be closed");
            // One of the kept ones, not the first connected: Kestrel counts a connection against the limit when the thread
            // pool runs its arrival, in no set order, and a loaded run closed the first and kept a later one.
            Assert.False(process.HasExited, "the proxy exited under the flood of connections");
            var kept = held.Find(s => !ClosedByServer(s));
            Assert.NotNull(kept);
            await kept.SendAsync("GET /held HTTP/1.1\r\nHost: proxy\r\n\r\n"u8.ToArray());
            var buffer = new byte[64];
            var read = await kept.ReceiveAsync(buffer);

            Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);
            Assert.False(process.HasExited);
            held.ForEach(s => s.Dispose());
            held.Clear();
            await ProxyHarness.EventuallyAsync(async () =>
            {
                using var fresh = new HttpClient();
                using var response = await fresh.GetAsync(new Uri($"http://127.0.0.1:{Text(port)}/after"));
                return response.StatusCode == HttpStatusCode.OK;
            }, "a new client to be served once the idle ones closed");
            Assert.False(process.HasExited);
        }
        finally
        {
            held.ForEach(s => s.Dispose());
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        Assert.Contains("client connections: at most 24 at once on each data port", await output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connections_closed_past_the_limit_are_counted_and_logged_once_a_second_not_once_each()
    {
        await using var proxy = await ProxyHarness.StartAsync("plugins: []", o => o.MaxConnections = 2);
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < 6; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
                held.Add(socket);
            }

            await ProxyHarness.EventuallyAsync(async () => (await proxy.MetricsAsync()).Contains("\nproxy_downstream_cx_overflow_total 4\n", StringComparison.Ordinal),
                "the four connections past the limit of two to be counted");
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }

        // The count and the line are written by the connections' own threads, each in its own order: wait for the line too.
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("client connection closed on arrival: a data port already has 2 open (--max-connections)")),
            "the closed connections to be logged");
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("rejected because the maximum number of concurrent connections", StringComparison.Ordinal));
    }

    private static bool ClosedByServer(Socket socket)
    {
        try
        {
            return socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    /// <summary>The proxy under a 400 open-file limit, ready: its own admin answers "ready" while it runs.</summary>
    private static async Task<(Process Process, int Port, Task<string> Output)> StartProxyAsync(Uri upstream)
    {
        using var http = new HttpClient();
        for (var attempt = 1; ; attempt++)
        {
            var (port, admin) = (FreePort.Next(), FreePort.Next());
            var command = $"ulimit -n 400 && exec dotnet exec '{Path.Combine(AppContext.BaseDirectory, "WasmOperator.Proxy.dll")}' --listen 127.0.0.1 --port {Text(port)} " +
                          $"--admin-port {Text(admin)} --h2c-port 0 --status-port 0 --upstream {upstream}";
            var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add(command);
            var process = Process.Start(info) ?? throw new InvalidOperationException("the proxy did not start");
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            await ProxyHarness.EventuallyAsync(async () => process.HasExited || await ReadyAsync(http, admin), "the proxy to be ready");
            if (!process.HasExited)
            {
                return (process, port, output);
            }

            var said = await output + await errors;
            process.Dispose();
            if (attempt == 3 || !said.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                Assert.Fail($"the proxy exited before it was ready: {said}");
            }
        }
    }

    private static async Task<bool> ReadyAsync(HttpClient http, int port)
    {
        try
        {
            using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{Text(port)}/ready"));
            // Its own answer, not another process's that took the port meanwhile.
            return response.StatusCode == HttpStatusCode.OK && await response.Content.ReadAsStringAsync() == "ready\n";
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
