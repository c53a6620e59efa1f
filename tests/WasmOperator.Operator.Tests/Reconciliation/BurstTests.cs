using System.Text.Json.Nodes;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class BurstTests
{
    private const int Plugins = 500;

    [Fact]
    public async Task A_burst_of_500_plugins_is_queued_once_each_and_all_reconciled_once()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("burst");
        await ForeignLease.HoldAsync(cluster.Client);
        var op = await cluster.StartOperatorAsync(cluster.Options() with { Workers = 4 });
        await Cluster.EventuallyAsync(() => op.Host.IsSynced, "the first list");

        // Every plugin is created and then changed twice while the replica is standby: three events per key.
        for (var i = 0; i < Plugins; i++)
        {
            await cluster.CreateAsync(Cluster.Plugin($"b{i}", url, sha));
        }

        for (var i = 0; i < Plugins; i++)
        {
            await cluster.PatchSpecAsync($"b{i}", new JsonObject { ["pluginConfig"] = new JsonObject { ["n"] = 1 } });
            await cluster.PatchSpecAsync($"b{i}", new JsonObject { ["pluginConfig"] = new JsonObject { ["n"] = 2 } });
        }

        await Cluster.EventuallyAsync(() => op.Host.Cache.Get($"default/b{Plugins - 1}")?.Metadata?.Generation == 3, "the last change in the cache");
        Assert.Equal(Plugins, op.Host.Queue.Depth);
        Assert.Equal(Plugins, op.Host.Queue.TotalAdds);

        await ForeignLease.ReleaseAsync(cluster.Client);
        await Cluster.EventuallyAsync(async () => await cluster.CountReadyAsync() == Plugins, "all 500 Ready");

        Assert.Equal(Plugins, op.Desired.Snapshot().Count);
        Assert.Equal(Plugins, op.Desired.Applies);
        Assert.Equal(Plugins, op.Host.Metrics.StatusPatches.Value);
        Assert.All(op.Desired.Snapshot().Values, d => Assert.Equal(2, d.Spec.PluginConfig!["n"]!.GetValue<int>()));
        Assert.True(op.Host.ModuleCache.IsPinned($"sha256:{sha}"));
    }
}
