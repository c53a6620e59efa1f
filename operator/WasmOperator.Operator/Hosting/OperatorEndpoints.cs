using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Prometheus;

namespace WasmOperator.Operator.Hosting;

/// <summary>/healthz (liveness: 500 when a watch is stalled), /readyz (503 before sync; a standby is ready) and /metrics.</summary>
internal static class OperatorEndpoints
{
    public static IEndpointRouteBuilder MapOperatorEndpoints(this IEndpointRouteBuilder endpoints, OperatorHost host)
    {
        endpoints.MapGet("/healthz", () => host.Health() is (true, var ok) ? Results.Text(ok) : Results.Text(host.Health().Detail, statusCode: 500));
        endpoints.MapGet("/readyz", () => host.Readiness() is (true, var ok) ? Results.Text(ok) : Results.Text(host.Readiness().Detail, statusCode: 503));
        endpoints.MapGet("/metrics", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4";
            await host.Metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        });
        return endpoints;
    }
}
