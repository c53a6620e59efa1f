using System.Text.Json.Nodes;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class RevisionRestorerTests
{
    [Fact]
    public async Task After_a_restart_a_spec_with_a_bad_digest_keeps_the_last_good_revision_from_status_and_nothing_is_applied_twice()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("kept");
        var (steadyUrl, steadySha) = cluster.Modules.ProxyWasm("steady");
        var first = await cluster.StartOperatorAsync();
        await cluster.CreateAsync(Cluster.Plugin("keep", url, sha, config: new JsonObject { ["header"] = "x-kept" }));
        await cluster.CreateAsync(Cluster.Plugin("steady", steadyUrl, steadySha));
        var before = await cluster.WaitForConditionAsync("keep", ConditionTypes.Ready, ConditionStatus.True);
        await cluster.WaitForConditionAsync("steady", ConditionTypes.Ready, ConditionStatus.True);
        var good = first.Desired.Get("default/keep")!;
        await first.DisposeAsync();

        // Changed while no operator runs: the new operator never saw the good generation.
        await cluster.PatchSpecAsync("keep", new JsonObject { ["sha256"] = new string('b', 64) });
        var second = await cluster.StartOperatorAsync();
        var after = await cluster.WaitForConditionAsync("keep", ConditionTypes.Stalled, ConditionStatus.True);
        await Cluster.EventuallyAsync(() => second.Desired.Get("default/steady") is not null && second.Host.Queue.Depth == 0, "the steady plugin desired");

        var restored = second.Desired.Get("default/keep");
        Assert.NotNull(restored);
        Assert.Equal(good.Revision, restored.Revision);
        Assert.Equal($"sha256:{sha}", restored.ModuleDigest);
        Assert.Equal(1, restored.Generation);
        Assert.Equal("x-kept", restored.Spec.PluginConfig!["header"]!.GetValue<string>());
        Assert.Equal(sha, restored.Spec.Sha256);
        Assert.True(File.Exists(restored.ModulePath));
        Assert.True(second.Host.ModuleCache.IsPinned(restored.ModuleDigest));

        var stalled = after.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!;
        Assert.Equal(ConditionReasons.DigestMismatch, stalled.Reason);
        Assert.Contains($"revision {good.Revision} stays in effect", stalled.Message, StringComparison.Ordinal);
        Assert.Equal(ConditionStatus.False, after.Status.Conditions.Find(c => c.Type == ConditionTypes.Ready)!.Status);
        Assert.Equal(2, after.Status.ObservedGeneration);
        Assert.Equal(before.Status!.Revisions!.Stable!.Revision, after.Status.Revisions!.Stable!.Revision);
        Assert.Equal(1, after.Status.Revisions.Stable.Generation);
        Assert.Equal(1, second.Host.Metrics.RestoredRevisions.Value);
        Assert.Equal(1, second.Desired.AppliesOf("default/keep"));
        Assert.Equal(1, second.Desired.AppliesOf("default/steady"));
    }

    [Fact]
    public async Task A_restarted_operator_with_an_empty_cache_fetches_the_last_good_module_again_by_its_digest()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("refetch");
        var (bad, _) = cluster.Modules.NotProxyWasm();
        var first = await cluster.StartOperatorAsync(cluster.Options("replica-a"));
        await cluster.CreateAsync(Cluster.Plugin("again", url, sha));
        await cluster.WaitForConditionAsync("again", ConditionTypes.Ready, ConditionStatus.True);
        var good = first.Desired.Get("default/again")!;
        await first.DisposeAsync();

        await cluster.PatchSpecAsync("again", new JsonObject { ["url"] = bad, ["sha256"] = null });
        var second = await cluster.StartOperatorAsync(cluster.Options("replica-b"));
        var after = await cluster.WaitForConditionAsync("again", ConditionTypes.Stalled, ConditionStatus.True);

        var restored = second.Desired.Get("default/again");
        Assert.NotNull(restored);
        Assert.Equal(good.Revision, restored.Revision);
        Assert.Equal($"sha256:{sha}", restored.ModuleDigest);
        Assert.NotEqual(good.ModulePath, restored.ModulePath);
        Assert.Equal(ConditionReasons.AbiRejected, after.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!.Reason);
        Assert.Equal(good.Revision, after.Status.Revisions!.Stable!.Revision);
    }

    [Fact]
    public async Task When_the_last_good_module_is_neither_cached_nor_fetchable_status_says_so_and_nothing_is_distributed()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("vanished");
        var first = await cluster.StartOperatorAsync(cluster.Options("replica-a"));
        await cluster.CreateAsync(Cluster.Plugin("lost", url, sha));
        var before = await cluster.WaitForConditionAsync("lost", ConditionTypes.Ready, ConditionStatus.True);
        await first.DisposeAsync();

        File.Delete(cluster.Modules.PathOf(url));
        await cluster.PatchSpecAsync("lost", new JsonObject { ["sha256"] = new string('c', 64) });
        var second = await cluster.StartOperatorAsync(cluster.Options("replica-b"));
        var after = await cluster.WaitForConditionAsync("lost", ConditionTypes.Reconciling, ConditionStatus.True);

        var ready = after.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!;
        Assert.Equal(ConditionStatus.False, ready.Status);
        Assert.Contains($"the last good revision {before.Status!.Revisions!.Stable!.Revision} cannot be restored", ready.Message, StringComparison.Ordinal);
        Assert.Contains($"module sha256:{sha} is not in the cache", ready.Message, StringComparison.Ordinal);
        Assert.Null(second.Desired.Get("default/lost"));
        Assert.Equal(before.Status.Revisions.Stable.Revision, after.Status.Revisions!.Stable!.Revision);
    }

    [Fact]
    public async Task After_a_restart_the_verified_revision_of_an_unchanged_spec_is_handed_out_while_its_registry_does_not_answer()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        var (file, sha) = cluster.Modules.ProxyWasm("latest");
        await registry.PushAsync("team/latest", "latest", File.ReadAllBytes(cluster.Modules.PathOf(file)));
        await using var front = new TcpCutter(new Uri($"http://{registry.HostPort}/"));
        var options = cluster.Options() with { InsecureRegistries = [front.Url.Authority] };
        var first = await cluster.StartOperatorAsync(options);
        await cluster.CreateAsync(Cluster.Plugin("latest", $"oci://{front.Url.Authority}/team/latest:latest"));
        var ready = await cluster.WaitForConditionAsync("latest", ConditionTypes.Ready, ConditionStatus.True);
        var good = first.Desired.Get("default/latest")!;
        await first.DisposeAsync();

        // :latest is pulled Always, so the restarted operator asks the registry, which now holds every request
        // unanswered: 15 s an attempt, five attempts, well past the guard before the fetch fails.
        front.Silence();
        var second = await cluster.StartOperatorAsync(options);
        await Cluster.EventuallyAsync(() => second.Desired.Get("default/latest") is not null, "the stable revision handed out");
        await Cluster.EventuallyAsync(() => front.Held > 0, "the spec fetched again from the silent registry");

        var restored = second.Desired.Get("default/latest")!;
        Assert.Equal(good.Revision, restored.Revision);
        Assert.Equal($"sha256:{sha}", restored.ModuleDigest);
        Assert.True(File.Exists(restored.ModulePath));
        var status = (await cluster.GetAsync("latest"))!.Status!;
        Assert.Equal(ConditionStatus.True, status.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!.Status);
        Assert.Equal(ready.Status!.Revisions!.Stable!.Revision, status.Revisions!.Stable!.Revision);
        // Nothing failed (yet): the restore counts only if the fetch it stands in for fails.
        Assert.Equal(0, second.Host.Metrics.RestoredRevisions.Value);
    }

    [Fact]
    public async Task After_a_restart_every_cached_stable_revision_is_handed_out_before_any_worker_finishes_a_fetch_from_a_silent_registry()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        string[] names = ["silent-a", "silent-b", "silent-c"];
        await using var front = new TcpCutter(new Uri($"http://{registry.HostPort}/"));
        // One worker and more plugins than workers: a pass fetching from the silent registry holds the only worker.
        var options = cluster.Options() with { InsecureRegistries = [front.Url.Authority], Workers = 1 };
        var first = await cluster.StartOperatorAsync(options);
        foreach (var name in names)
        {
            var (file, _) = cluster.Modules.ProxyWasm(name);
            await registry.PushAsync($"team/{name}", "latest", File.ReadAllBytes(cluster.Modules.PathOf(file)));
            await cluster.CreateAsync(Cluster.Plugin(name, $"oci://{front.Url.Authority}/team/{name}:latest"));
        }

        var good = new Dictionary<string, string>();
        foreach (var name in names)
        {
            await cluster.WaitForConditionAsync(name, ConditionTypes.Ready, ConditionStatus.True);
            good[name] = first.Desired.Get($"default/{name}")!.Revision;
        }

        await first.DisposeAsync();

        // :latest is pulled Always: each pass asks the silent registry and ends only after its attempts time out.
        front.Silence();
        var second = await cluster.StartOperatorAsync(options);
        await Cluster.EventuallyAsync(() => Array.TrueForAll(names, n => second.Desired.Get($"default/{n}") is not null), "every cached stable revision handed out");

        // No pass has finished: the worker is still waiting on the registry, and no plugin waited for it.
        Assert.Equal(0, second.Host.Reconciles);
        foreach (var name in names)
        {
            Assert.Equal(good[name], second.Desired.Get($"default/{name}")!.Revision);
            Assert.Equal(1, second.Desired.AppliesOf($"default/{name}"));
        }

        await Cluster.EventuallyAsync(() => front.Held > 0, "a spec fetched again from the silent registry");
        Assert.Equal(0, second.Host.Metrics.RestoredRevisions.Value);
    }
}
