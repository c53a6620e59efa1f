using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WasmOperator.Operator.Configuration;
using WasmOperator.Operator.Hosting;

// The operator process: controller runtime and the WasmPlugin reconciler.
OperatorOptions options;
try
{
    options = OperatorOptionsLoader.Load(args);
}
catch (OptionsException ex)
{
    await Console.Error.WriteLineAsync(ex.Message);
    return 2;
}

var builder = WebApplication.CreateSlimBuilder();
builder.WebHost.UseUrls(options.ListenAddress);
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.RenewDeadline);
var app = builder.Build();
var config = KubernetesClientConfiguration.IsInCluster()
    ? KubernetesClientConfiguration.InClusterConfig()
    : KubernetesClientConfiguration.BuildConfigFromConfigFile();
using var client = new Kubernetes(config);
await using var host = new OperatorHost(options, client, app.Services.GetRequiredService<ILoggerFactory>());

app.MapOperatorEndpoints(host);

await host.StartAsync();
await app.RunAsync();
return 0;
