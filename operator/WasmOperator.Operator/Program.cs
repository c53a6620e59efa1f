using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WasmOperator.Operator.Configuration;
using WasmOperator.Operator.Hosting;

// The operator process: controller runtime and the WasmPlugin reconciler.
if (OperatorSettings.WantsHelp(args))
{
    await Console.Out.WriteAsync(OperatorSettings.Help());
    return 0;
}

OperatorOptions options;
var warnings = new List<string>();
try
{
    options = OperatorOptionsLoader.Load(args, warnings: warnings);
}
catch (OptionsException ex)
{
    await Console.Error.WriteLineAsync(ex.Message);
    return 2;
}

var builder = WebApplication.CreateSlimBuilder();
builder.WebHost.UseUrls(options.ListenAddress);
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.RenewDeadline);

// A port already taken is reported below in one line; the host's own error log of it would add a stack trace.
var starting = true;
builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", level => level >= LogLevel.Information && !(starting && level == LogLevel.Error));
// Every probe and scrape logged three Information lines (routing, result, request end): kubelet and Prometheus flooded the log.
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
await using var app = builder.Build();
var startup = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("WasmOperator.Operator.Configuration");
foreach (var warning in warnings)
{
    startup.LogWarning("{Warning}", warning);
}

KubernetesClientConfiguration config;
try
{
    // In a pod: the service account; elsewhere: $KUBECONFIG, else ~/.kube/config.
    config = KubernetesClientConfiguration.IsInCluster()
        ? KubernetesClientConfiguration.InClusterConfig()
        : KubernetesClientConfiguration.BuildConfigFromConfigFile(Environment.GetEnvironmentVariable("KUBECONFIG"));
}
catch (k8s.Exceptions.KubeConfigException ex)
{
    await Console.Error.WriteLineAsync($"cannot reach Kubernetes: {ex.Message}; run in a pod or set KUBECONFIG");
    return 2;
}

using var client = new Kubernetes(config);
await using var host = new OperatorHost(options, client, app.Services.GetRequiredService<ILoggerFactory>());

app.MapOperatorEndpoints(host);

// Listen before anything talks to the API server: a taken port is one line and exit 1, not a stack trace after the first list.
try
{
    await app.StartAsync();
    starting = false;
}
catch (IOException ex)
{
    await Console.Error.WriteLineAsync($"listen-address: cannot listen on {options.ListenAddress}: {(ex.InnerException ?? ex).Message}; free the port or choose another with --listen-address (WASMOP_LISTEN_ADDRESS)");
    return 1;
}

await host.StartAsync();
await app.WaitForShutdownAsync();
return 0;
