using System.Text.Json.Nodes;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.GarbageCollection;

public sealed class ModuleCacheCollectorTests
{
    private const long CacheCap = 1024 * 1024;
    private const int ModulePadding = 300 * 1024;

    [Fact]
    public async Task Replaced_plugins_leave_their_old_modules_to_the_collector_and_the_modules_in_use_stay()
    {
        await using var cluster = await Cluster.StartAsync();
        var op = await cluster.StartOperatorAsync(cluster.Options() with { CacheMaxBytes = CacheCap, CacheGcInterval = TimeSpan.FromHours(1) });
        var old = new List<string>();
        var current = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var (url, sha) = cluster.Modules.ProxyWasm($"old-{i}", ModulePadding);
            old.Add($"sha256:{sha}");
            await cluster.CreateAsync(Cluster.Plugin($"p{i}", url, sha));
            await cluster.WaitForConditionAsync($"p{i}", ConditionTypes.Ready, ConditionStatus.True);
        }

        // Each replacement's new module is committed while the old one is still pinned: the cache goes over its
        // cap, and only the old module released after the last commit needs the collector to go.
        for (var i = 0; i < 3; i++)
        {
            var (url, sha) = cluster.Modules.ProxyWasm($"new-{i}", ModulePadding);
            current.Add($"sha256:{sha}");
            await cluster.PatchSpecAsync($"p{i}", new JsonObject { ["url"] = url, ["sha256"] = sha });
            await cluster.WaitForConditionAsync($"p{i}", ConditionTypes.Ready, ConditionStatus.True);
        }

        await Cluster.EventuallyAsync(async () => await CachedAsync(op, old[2]) is null, "the last replaced module to be collected");

        foreach (var digest in old)
        {
            Assert.Null(await CachedAsync(op, digest));
        }

        foreach (var digest in current)
        {
            Assert.NotNull(await CachedAsync(op, digest));
            Assert.True(op.Host.ModuleCache.IsPinned(digest));
        }

        Assert.True(op.Host.ModuleCache.TotalBytes <= CacheCap);
        Assert.True(op.Host.Metrics.CacheEvictedModules.Value >= 1);
        Assert.True(op.Host.Metrics.CacheEvictedBytes.Value >= ModulePadding);
        Assert.True(op.Host.Metrics.CacheCollections.WithLabels("released").Value >= 1);
    }

    [Fact]
    public async Task After_a_restart_the_periodic_collection_keeps_the_module_of_a_stable_revision_recorded_in_status()
    {
        await using var cluster = await Cluster.StartAsync();
        var (keptUrl, keptSha) = cluster.Modules.ProxyWasm("kept", ModulePadding);
        var first = await cluster.StartOperatorAsync(cluster.Options() with { LeaderElection = false });
        await cluster.CreateAsync(Cluster.Plugin("keep", keptUrl, keptSha));
        await cluster.WaitForConditionAsync("keep", ConditionTypes.Ready, ConditionStatus.True);
        var garbage = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var (url, sha) = cluster.Modules.ProxyWasm($"garbage-{i}", ModulePadding);
            garbage.Add($"sha256:{sha}");
            await cluster.CreateAsync(Cluster.Plugin($"g{i}", url, sha));
            await cluster.WaitForConditionAsync($"g{i}", ConditionTypes.Ready, ConditionStatus.True);
            await cluster.DeleteAsync($"g{i}");
            await Cluster.EventuallyAsync(async () => await cluster.GetAsync($"g{i}") is null, $"g{i} to be deleted");
        }

        await first.DisposeAsync();

        // The kept module is the least recently used and can no longer be fetched: only the cache has it now.
        File.Delete(cluster.Modules.PathOf(keptUrl));
        await cluster.PatchSpecAsync("keep", new JsonObject { ["sha256"] = new string('d', 64) });
        await ForeignLease.HoldAsync(cluster.Client);
        var second = await cluster.StartOperatorAsync(cluster.Options() with { CacheMaxBytes = CacheCap, CacheGcInterval = TimeSpan.FromMilliseconds(100) });
        await Cluster.EventuallyAsync(() => second.Host.Metrics.CacheEvictedModules.Value >= 1, "a periodic collection on the standby");

        Assert.True(second.Host.ModuleCache.IsPinned($"sha256:{keptSha}"));
        Assert.NotNull(await CachedAsync(second, $"sha256:{keptSha}"));
        Assert.Equal(0, second.Host.Reconciles);

        await ForeignLease.ReleaseAsync(cluster.Client);
        var after = await cluster.WaitForConditionAsync("keep", ConditionTypes.Reconciling, ConditionStatus.True);

        Assert.Equal($"sha256:{keptSha}", second.Desired.Get("default/keep")!.ModuleDigest);
        Assert.Contains("stays in effect", after.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!.Message, StringComparison.Ordinal);
        Assert.True(second.Host.Metrics.CacheCollections.WithLabels("interval").Value >= 1);
        var collected = 0;
        foreach (var digest in garbage)
        {
            collected += await CachedAsync(second, digest) is null ? 1 : 0;
        }

        Assert.True(collected >= 1);
    }

    [Fact]
    public async Task A_module_evicted_by_a_fetch_that_went_over_the_cap_is_counted_as_evicted()
    {
        await using var cluster = await Cluster.StartAsync();
        var op = await cluster.StartOperatorAsync(cluster.Options() with { CacheMaxBytes = CacheCap, CacheGcInterval = TimeSpan.FromHours(1) });
        var (releasedUrl, releasedSha) = cluster.Modules.ProxyWasm("released", ModulePadding);
        await cluster.CreateAsync(Cluster.Plugin("released", releasedUrl, releasedSha));
        await cluster.WaitForConditionAsync("released", ConditionTypes.Ready, ConditionStatus.True);
        await cluster.DeleteAsync("released");
        await Cluster.EventuallyAsync(async () => await cluster.GetAsync("released") is null, "the plugin to be deleted");

        // Below the cap the released module stays; the third new module's commit takes the cache over it and evicts it.
        for (var i = 0; i < 3; i++)
        {
            var (url, sha) = cluster.Modules.ProxyWasm($"fresh-{i}", ModulePadding);
            await cluster.CreateAsync(Cluster.Plugin($"f{i}", url, sha));
            await cluster.WaitForConditionAsync($"f{i}", ConditionTypes.Ready, ConditionStatus.True);
        }

        Assert.Null(await CachedAsync(op, $"sha256:{releasedSha}"));
        Assert.Equal(1, op.Host.Metrics.CacheEvictedModules.Value);
        Assert.True(op.Host.Metrics.CacheEvictedBytes.Value >= ModulePadding);
    }

    private static async Task<string?> CachedAsync(Replica op, string digest) => await op.Host.ModuleCache.TryGetPathAsync(digest, CancellationToken.None);
}
