using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class ConflictTests
{
    [Fact]
    public async Task A_stale_copy_gets_a_conflict_and_is_retried_instead_of_overwriting_the_newer_object()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("conflict");
        await ForeignLease.HoldAsync(cluster.Client);
        var op = await cluster.StartOperatorAsync();
        await cluster.CreateAsync(Cluster.Plugin("c", url, sha));
        await Cluster.EventuallyAsync(() => op.Host.Cache.Get("default/c") is not null, "the plugin in the cache");
        var stale = op.Host.Cache.Get("default/c")!;
        await cluster.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"metadata":{"labels":{"edited":"yes"}}}""", V1Patch.PatchType.MergePatch), WasmPlugin.Group, WasmPlugin.Version, "default", WasmPlugin.Plural, "c");
        await Cluster.EventuallyAsync(() => op.Host.Cache.Get("default/c")?.Metadata?.Labels?.ContainsKey("edited") == true, "the edit in the cache");
        var fresh = op.Host.Cache.Get("default/c")!;

        op.Host.Cache.Upsert("default/c", stale);
        var conflicted = await op.Host.Reconciler.ReconcileAsync("default/c", CancellationToken.None);
        var untouched = await cluster.GetAsync("c");
        op.Host.Cache.Upsert("default/c", fresh);
        var retried = await op.Host.Reconciler.ReconcileAsync("default/c", CancellationToken.None);
        var done = await cluster.GetAsync("c");

        Assert.True(conflicted.Error);
        Assert.False(untouched!.Metadata!.Extra?.ContainsKey("finalizers") ?? false);
        Assert.Equal("yes", untouched.Metadata.Labels!["edited"]);
        Assert.False(retried.Error);
        Assert.Equal("yes", done!.Metadata!.Labels!["edited"]);
        Assert.Contains(WasmPluginReconciler.Finalizer, done.Metadata.Extra!["finalizers"].EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(ConditionStatus.True, done.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!.Status);
    }
}
