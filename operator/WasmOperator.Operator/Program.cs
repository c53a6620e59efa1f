using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;
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

app.MapGet("/healthz", () => host.Health() is (true, var ok) ? Results.Text(ok) : Results.Text(host.Health().Detail, statusCode: 500));
app.MapGet("/readyz", () => host.Readiness() is (true, var ok) ? Results.Text(ok) : Results.Text(host.Readiness().Detail, statusCode: 503));
app.MapGet("/metrics", async (HttpContext context) =>
{
    context.Response.ContentType = "text/plain; version=0.0.4";
    await host.Metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
});

await host.StartAsync();
await app.RunAsync();
return 0;
