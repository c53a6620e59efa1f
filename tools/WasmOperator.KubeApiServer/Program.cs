// Local Kubernetes-API-compatible server for development and tests.
// Usage: WasmOperator.KubeApiServer [--port 6443] [--data-dir DIR] [--kubeconfig-out PATH]
using System.Globalization;
using WasmOperator.KubeApiServer.Hosting;

var port = 6443;
string? dataDir = null;
var kubeconfig = Path.Combine(Environment.CurrentDirectory, "kubeconfig");
for (var i = 0; i < args.Length; i++)
{
    var value = i + 1 < args.Length ? args[i + 1] : null;
    switch (args[i])
    {
        case "--port" when int.TryParse(value, CultureInfo.InvariantCulture, out var p):
            port = p;
            i++;
            break;
        case "--data-dir" when value is not null:
            dataDir = value;
            i++;
            break;
        case "--kubeconfig-out" when value is not null:
            kubeconfig = value;
            i++;
            break;
        default:
            await Console.Error.WriteLineAsync($"unknown or incomplete argument '{args[i]}'. Usage: --port N --data-dir DIR --kubeconfig-out PATH").ConfigureAwait(false);
            return 2;
    }
}

await using var server = await LocalKubeApiServer.StartAsync(new LocalKubeApiServerOptions
{
    Port = port,
    DataDirectory = dataDir,
    KubeconfigPath = kubeconfig,
    HandleProcessSignals = true,
}).ConfigureAwait(false);
Console.WriteLine($"local kube API server listening on {server.Url} (kubeconfig: {server.KubeconfigPath}, data: {dataDir ?? "in memory"})");
// Ctrl-C or SIGTERM stops the host cleanly, so the last snapshot is on disk.
await server.WaitForShutdownAsync(CancellationToken.None).ConfigureAwait(false);
return 0;
