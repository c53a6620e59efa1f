using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using k8s;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Hosting;

public sealed class OperatorProcessTests
{
    [Fact]
    public async Task The_operator_process_refuses_an_invalid_configuration_with_exit_code_2_and_says_what_to_fix()
    {
        var (code, output) = await RunToEndAsync(["--workers=0", "--root-namespace=Not_Valid"], new Dictionary<string, string>());

        Assert.Equal(2, code);
        Assert.Contains("workers: 0 must be between 1 and 256", output, StringComparison.Ordinal);
        Assert.Contains("root-namespace: \"Not_Valid\"", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_lists_every_setting_and_exits_0(string flag)
    {
        var (code, output) = await RunToEndAsync([flag], new Dictionary<string, string>());

        Assert.Equal(0, code);
        Assert.Contains("--listen-address  WASMOP_LISTEN_ADDRESS  (default: http://0.0.0.0:8080)", output, StringComparison.Ordinal);
        Assert.Contains("--retry-period  WASMOP_RETRY_PERIOD  (default: 2s)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_listen_port_already_taken_is_one_line_naming_the_flag_and_exit_1()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var kubeconfig = Path.GetTempFileName();
        var cache = Directory.CreateTempSubdirectory("wasmop-port-cache-").FullName;
        try
        {
            // Nothing answers there: the operator must stop at the port before it ever tries the API server.
            await File.WriteAllTextAsync(kubeconfig, """
                apiVersion: v1
                kind: Config
                clusters: [{name: none, cluster: {server: "http://127.0.0.1:1"}}]
                users: [{name: none, user: {token: none}}]
                contexts: [{name: none, context: {cluster: none, user: none}}]
                current-context: none
                """);

            var (code, output) = await RunToEndAsync([$"--listen-address=http://127.0.0.1:{port}", $"--cache-directory={cache}"],
                new Dictionary<string, string> { ["KUBECONFIG"] = kubeconfig });

            Assert.Equal(1, code);
            var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            Assert.StartsWith($"listen-address: cannot listen on http://127.0.0.1:{port}: ", line, StringComparison.Ordinal);
            Assert.Contains("--listen-address", line, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(kubeconfig);
            Directory.Delete(cache, recursive: true);
        }
    }

    [Fact]
    public async Task The_operator_process_reconciles_serves_readyz_and_releases_its_lease_on_SIGTERM()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("process");
        var cache = Directory.CreateTempSubdirectory("wasmop-proc-cache-").FullName;
        var port = FreePort();
        using var process = Start(
            [$"--listen-address=http://127.0.0.1:{port}", $"--cache-directory={cache}", $"--allowed-file-roots={cluster.Modules.Root}",
             "--identity=process-replica", "--lease-duration=3s", "--renew-deadline=2s", "--retry-period=300ms"],
            new Dictionary<string, string> { ["KUBECONFIG"] = cluster.Server.KubeconfigPath });
        try
        {
            using var http = new HttpClient();
            await Cluster.EventuallyAsync(async () => await StatusAsync(http, port, "readyz") == HttpStatusCode.OK, "/readyz to answer 200");
            await cluster.CreateAsync(Cluster.Plugin("by-process", url, sha));
            var plugin = await cluster.WaitForConditionAsync("by-process", ConditionTypes.Ready, ConditionStatus.True);
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, port, "healthz"));

            using (var term = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }

            using var guard = new CancellationTokenSource(Cluster.Guard);
            await process.WaitForExitAsync(guard.Token);
            var lease = await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("wasm-operator", "wasm-system");

            Assert.Equal($"sha256:{sha}", plugin.Status!.Module!.ModuleDigest);
            Assert.Equal(0, process.ExitCode);
            Assert.True(string.IsNullOrEmpty(lease.Spec.HolderIdentity));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            Directory.Delete(cache, recursive: true);
        }
    }

    private static async Task<HttpStatusCode?> StatusAsync(HttpClient http, int port, string path)
    {
        try
        {
            using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/{path}"));
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static Process Start(IEnumerable<string> args, Dictionary<string, string> env)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("exec");
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "WasmOperator.Operator.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in env)
        {
            info.Environment[key] = value;
        }

        return Process.Start(info) ?? throw new InvalidOperationException("the operator did not start");
    }

    private static async Task<(int Code, string Output)> RunToEndAsync(IEnumerable<string> args, Dictionary<string, string> env)
    {
        using var process = Start(args, env);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var guard = new CancellationTokenSource(Cluster.Guard);
        await process.WaitForExitAsync(guard.Token);
        return (process.ExitCode, new StringBuilder().Append(await stdout).Append(await stderr).ToString());
    }
}
