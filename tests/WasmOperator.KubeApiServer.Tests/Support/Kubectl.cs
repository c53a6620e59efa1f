using System.Diagnostics;
using System.Text;
using WasmOperator.KubeApiServer.Hosting;

namespace WasmOperator.KubeApiServer.Tests.Support;

/// <summary>Runs the real kubectl against a local server, with its own discovery cache directory.</summary>
internal sealed class Kubectl : IDisposable
{
    private readonly string _kubeconfig;
    private readonly string _cacheDir = Directory.CreateTempSubdirectory("kubectl-cache-").FullName;

    public Kubectl(LocalKubeApiServer server)
        : this(server.KubeconfigPath)
    {
    }

    public Kubectl(string kubeconfigPath) => _kubeconfig = kubeconfigPath;

    public static string TestData(string file) => Path.Combine(AppContext.BaseDirectory, "TestData", file);

    public async Task<KubectlResult> RunAsync(params string[] args) => await RunWithInputAsync(null, args);

    public async Task<KubectlResult> RunWithInputAsync(string? stdin, params string[] args)
    {
        using var process = Start(args);
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(guard.Token);
        return new KubectlResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts a long-running kubectl (get -w, wait) whose output the test reads while it runs.</summary>
    public Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("kubectl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add("--kubeconfig");
        info.ArgumentList.Add(_kubeconfig);
        info.ArgumentList.Add("--cache-dir");
        info.ArgumentList.Add(_cacheDir);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("kubectl did not start");
    }

    public void Dispose() => Directory.Delete(_cacheDir, recursive: true);
}
