using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Hosting;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Hosting;

public sealed class OperatorEndpointsTests
{
    [Fact]
    public async Task Healthz_readyz_and_metrics_tell_a_leader_from_a_standby_over_HTTP()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("http");
        var leader = await cluster.StartOperatorAsync(cluster.Options("replica-a"));
        await Cluster.EventuallyAsync(() => leader.Host.IsLeader && leader.Host.IsSynced, "replica-a to lead");
        var standby = await cluster.StartOperatorAsync(cluster.Options("replica-b"));
        await Cluster.EventuallyAsync(() => standby.Host.IsSynced, "replica-b to sync");
        await cluster.CreateAsync(Cluster.Plugin("served", url, sha));
        await cluster.WaitForConditionAsync("served", ConditionTypes.Ready, ConditionStatus.True);
        await using var leaderApp = await ServeAsync(leader.Host);
        await using var standbyApp = await ServeAsync(standby.Host);
        using var http = new HttpClient();

        var leaderReady = await http.GetAsync(new Uri(leaderApp.Url, "readyz"));
        var standbyReady = await http.GetAsync(new Uri(standbyApp.Url, "readyz"));
        var standbyHealth = await http.GetAsync(new Uri(standbyApp.Url, "healthz"));
        var metrics = await http.GetStringAsync(new Uri(leaderApp.Url, "metrics"));

        Assert.Equal(HttpStatusCode.OK, leaderReady.StatusCode);
        // Ready, as a controller-runtime standby is: a rolling update waits for the new (standby) pod to be ready.
        Assert.Equal(HttpStatusCode.OK, standbyReady.StatusCode);
        Assert.Contains("standby", await standbyReady.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, standbyHealth.StatusCode);
        Assert.Contains("controller_runtime_reconcile_total{controller=\"wasmplugin\",result=\"success\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("controller_runtime_reconcile_time_seconds_count{controller=\"wasmplugin\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("workqueue_adds_total{name=\"wasmplugin\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("workqueue_depth{name=\"wasmplugin\"} 0", metrics, StringComparison.Ordinal);
        Assert.Contains("leader_election_master_status{name=\"wasm-operator\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("wasmoperator_module_fetches_total", metrics, StringComparison.Ordinal);
    }

    private static async Task<Served> ServeAsync(OperatorHost host)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapOperatorEndpoints(host);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Served(app, new Uri(address.TrimEnd('/') + "/"));
    }

    private sealed record Served(WebApplication App, Uri Url) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await App.DisposeAsync();
    }
}
