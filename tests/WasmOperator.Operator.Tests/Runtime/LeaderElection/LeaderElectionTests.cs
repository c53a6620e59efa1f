using k8s;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Runtime.LeaderElection;

public sealed class LeaderElectionTests
{
    [Fact]
    public async Task Of_two_replicas_one_leads_and_reconciles_and_the_standby_is_not_ready()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("ha");
        var a = await cluster.StartOperatorAsync(cluster.Options("replica-a"));
        var b = await cluster.StartOperatorAsync(cluster.Options("replica-b"));
        await Cluster.EventuallyAsync(() => a.Host.IsLeader || b.Host.IsLeader, "a leader");
        var (leader, standby) = a.Host.IsLeader ? (a, b) : (b, a);

        await cluster.CreateAsync(Cluster.Plugin("ha", url, sha));
        await cluster.WaitForConditionAsync("ha", ConditionTypes.Ready, ConditionStatus.True);
        await Cluster.EventuallyAsync(() => standby.Host.Cache.Get("default/ha") is not null, "the standby's cache to see the plugin");

        var lease = await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("wasm-operator", "wasm-system");
        Assert.Equal(leader.Host.Identity, lease.Spec.HolderIdentity);
        Assert.False(standby.Host.IsLeader);
        Assert.True(leader.Host.Readiness().Ready);
        // Ready, as a controller-runtime standby is (a rolling update waits on it), and says it stands by.
        Assert.True(standby.Host.Readiness().Ready);
        Assert.Contains("standby", standby.Host.Readiness().Detail, StringComparison.Ordinal);
        Assert.True(standby.Host.Health().Healthy);
        Assert.Equal(0, standby.Host.Reconciles);
        Assert.Empty(standby.Desired.Snapshot());
        Assert.Single(leader.Desired.Snapshot());
        Assert.Equal(1, leader.Host.Metrics.LeaderStatus.WithLabels("wasm-operator").Value);
        Assert.Equal(0, standby.Host.Metrics.LeaderStatus.WithLabels("wasm-operator").Value);
    }

    [Fact]
    public async Task A_leader_that_shuts_down_releases_the_lease_and_the_standby_takes_over()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("handover");
        var a = await cluster.StartOperatorAsync(cluster.Options("replica-a"));
        await Cluster.EventuallyAsync(() => a.Host.IsLeader, "replica-a to lead");
        var b = await cluster.StartOperatorAsync(cluster.Options("replica-b"));
        await Cluster.EventuallyAsync(() => b.Host.IsSynced, "replica-b to sync");

        await a.DisposeAsync();
        var released = await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("wasm-operator", "wasm-system");
        await Cluster.EventuallyAsync(() => b.Host.IsLeader, "replica-b to take over");
        await cluster.CreateAsync(Cluster.Plugin("after-handover", url, sha));
        await cluster.WaitForConditionAsync("after-handover", ConditionTypes.Ready, ConditionStatus.True);

        Assert.True(string.IsNullOrEmpty(released.Spec.HolderIdentity) || released.Spec.HolderIdentity == "replica-b");
        Assert.NotNull(b.Desired.Get("default/after-handover"));
        var lease = await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("wasm-operator", "wasm-system");
        Assert.Equal("replica-b", lease.Spec.HolderIdentity);
        Assert.True(lease.Spec.LeaseTransitions >= 1);
    }

    [Fact]
    public async Task A_leader_cut_off_from_the_API_server_steps_down_and_the_standby_takes_over_after_the_lease_expires()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("failover");
        var cutter = cluster.Cutter();
        var a = await cluster.StartOperatorAsync(cluster.Options("replica-a"), via: cutter.Url);
        await Cluster.EventuallyAsync(() => a.Host.IsLeader, "replica-a to lead");
        var b = await cluster.StartOperatorAsync(cluster.Options("replica-b"));
        await Cluster.EventuallyAsync(() => b.Host.IsSynced, "replica-b to sync");

        cutter.Pause();
        await Cluster.EventuallyAsync(() => b.Host.IsLeader, "replica-b to take over");
        await Cluster.EventuallyAsync(() => !a.Host.IsLeader, "replica-a to step down");
        await cluster.CreateAsync(Cluster.Plugin("after-failover", url, sha));
        await cluster.WaitForConditionAsync("after-failover", ConditionTypes.Ready, ConditionStatus.True);

        Assert.NotNull(b.Desired.Get("default/after-failover"));
        Assert.Null(a.Desired.Get("default/after-failover"));
        Assert.Contains("standby", a.Host.Readiness().Detail, StringComparison.Ordinal);
        Assert.Equal("replica-b", (await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("wasm-operator", "wasm-system")).Spec.HolderIdentity);
    }

    [Fact]
    public async Task A_standby_that_takes_over_while_the_spec_fails_keeps_the_last_good_revision_from_status()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("takeover");
        var cutter = cluster.Cutter();
        var a = await cluster.StartOperatorAsync(cluster.Options("replica-a"), via: cutter.Url);
        await Cluster.EventuallyAsync(() => a.Host.IsLeader, "replica-a to lead");
        var b = await cluster.StartOperatorAsync(cluster.Options("replica-b"));
        await Cluster.EventuallyAsync(() => b.Host.IsSynced, "replica-b to sync");
        await cluster.CreateAsync(Cluster.Plugin("kept", url, sha));
        var good = await cluster.WaitForConditionAsync("kept", ConditionTypes.Ready, ConditionStatus.True);

        cutter.Pause();
        await cluster.PatchSpecAsync("kept", new System.Text.Json.Nodes.JsonObject { ["sha256"] = new string('e', 64) });
        await Cluster.EventuallyAsync(() => b.Host.IsLeader, "replica-b to take over");
        var stalled = await cluster.WaitForConditionAsync("kept", ConditionTypes.Stalled, ConditionStatus.True);

        Assert.Equal(good.Status!.Revisions!.Stable!.Revision, b.Desired.Get("default/kept")?.Revision);
        Assert.Equal($"sha256:{sha}", b.Desired.Get("default/kept")!.ModuleDigest);
        Assert.Equal(1, b.Desired.AppliesOf("default/kept"));
        Assert.Equal(good.Status.Revisions.Stable.Revision, stalled.Status!.Revisions!.Stable!.Revision);
        Assert.Equal(1, b.Host.Metrics.RestoredRevisions.Value);
    }
}
