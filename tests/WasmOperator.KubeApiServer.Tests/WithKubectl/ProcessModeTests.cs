using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using WasmOperator.KubeApiServer.Tests.Support;

namespace WasmOperator.KubeApiServer.Tests.WithKubectl;

public sealed class ProcessModeTests
{
    [Fact]
    public async Task The_server_process_writes_a_kubeconfig_and_keeps_objects_in_its_data_dir_across_restarts()
    {
        var work = Directory.CreateTempSubdirectory("kubeapi-process-").FullName;
        try
        {
            var kubeconfig = Path.Combine(work, "kubeconfig");
            var data = Path.Combine(work, "data");
            var port = FreePort();
            using var kubectl = new Kubectl(kubeconfig);

            using (var first = StartServer(port, data, kubeconfig))
            {
                await WaitUntilServingAsync(first, port);
                (await kubectl.RunAsync("apply", "-f", Kubectl.TestData("widget-crd.yaml"))).ShouldSucceed();
                (await kubectl.RunAsync("apply", "-f", Kubectl.TestData("widget.yaml"))).ShouldSucceed();
                first.Kill();
                await first.WaitForExitAsync();
            }

            using var second = StartServer(port, data, kubeconfig);
            await WaitUntilServingAsync(second, port);
            var listed = await kubectl.RunAsync("get", "widgets", "-o", "name");
            second.Kill();
            await second.WaitForExitAsync();

            Assert.Equal("widget.test.wasmoperator.io/first", listed.ShouldSucceed().Stdout.Trim());
            Assert.Contains($"server: http://127.0.0.1:{port}", await File.ReadAllTextAsync(kubeconfig), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static Process StartServer(int port, string data, string kubeconfig)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in (string[])[Path.Combine(AppContext.BaseDirectory, "WasmOperator.KubeApiServer.dll"), "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data-dir", data, "--kubeconfig-out", kubeconfig])
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("the server process did not start");
    }

    private static async Task WaitUntilServingAsync(Process server, int port)
    {
        // The process prints one line once it listens and has written the kubeconfig.
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var line = await server.StandardOutput.ReadLineAsync(guard.Token);
        Assert.Contains($"listening on http://127.0.0.1:{port}/", line, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
