using k8s;
using System.Text.Json.Nodes;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.KubeApiServer.Hosting;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Runtime.Reflection;

public sealed class ReflectorTests
{
    [Fact]
    public async Task The_cache_follows_creates_updates_and_deletes_and_indexes_by_namespace_and_label()
    {
        await using var cluster = await Cluster.StartAsync();
        var op = await cluster.StartOperatorAsync(cluster.Options() with { LeaderElection = false, Workers = 1 });
        var labelled = Cluster.Plugin("labelled", "file:///nowhere.wasm");
        labelled["metadata"]!["labels"] = new JsonObject { ["team"] = "edge" };

        await cluster.CreateAsync(labelled);
        await cluster.CreateAsync(Cluster.Plugin("other", "file:///nowhere.wasm", ns: "wasm-system"));
        await Cluster.EventuallyAsync(() => op.Host.Cache.Count == 2, "two plugins in the cache");
        await cluster.PatchSpecAsync("labelled", new JsonObject { ["pluginName"] = "changed" });
        await Cluster.EventuallyAsync(() => op.Host.Cache.Get("default/labelled")?.Spec?.PluginName == "changed", "the update in the cache");
        await cluster.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new k8s.Models.V1Patch("""{"metadata":{"finalizers":null}}""", k8s.Models.V1Patch.PatchType.MergePatch),
            WasmPlugin.Group, WasmPlugin.Version, "wasm-system", WasmPlugin.Plural, "other");
        await cluster.DeleteAsync("other", "wasm-system");
        await Cluster.EventuallyAsync(() => op.Host.Cache.Get("wasm-system/other") is null, "the delete in the cache");

        Assert.Equal("labelled", Assert.Single(op.Host.Cache.ListByLabel("team", "edge")).Metadata!.Name);
        Assert.Single(op.Host.Cache.ListNamespace("default"));
        Assert.Empty(op.Host.Cache.ListNamespace("wasm-system"));
    }

    [Fact]
    public async Task A_watch_dropped_by_the_server_is_resumed_without_losing_changes()
    {
        await using var cluster = await Cluster.StartAsync();
        var cutter = cluster.Cutter();
        var op = await cluster.StartOperatorAsync(cluster.Options() with { LeaderElection = false }, via: cutter.Url);
        await Cluster.EventuallyAsync(() => op.Host.IsSynced, "the first list");
        await cluster.CreateAsync(Cluster.Plugin("before-cuts", "file:///nowhere.wasm"));
        await Cluster.EventuallyAsync(() => op.Host.Cache.Get("default/before-cuts") is not null, "a live watch");
        var lists = op.Host.Metrics.Relists.WithLabels(WasmPlugin.Plural).Value;

        for (var i = 0; i < 3; i++)
        {
            cutter.Cut();
            await cluster.CreateAsync(Cluster.Plugin($"during-cut-{i}", "file:///nowhere.wasm"));
            await Cluster.EventuallyAsync(() => op.Host.Cache.Get($"default/during-cut-{i}") is not null, $"during-cut-{i} in the cache");
        }

        Assert.Equal(lists, op.Host.Metrics.Relists.WithLabels(WasmPlugin.Plural).Value);
        Assert.Equal(4, op.Host.Cache.Count);
        Assert.True(op.Host.Metrics.WatchRestarts.WithLabels(WasmPlugin.Plural, "error").Value + op.Host.Metrics.WatchRestarts.WithLabels(WasmPlugin.Plural, "closed").Value >= 3);
    }

    [Fact]
    public async Task After_an_outage_longer_than_the_watch_history_a_410_leads_to_a_relist_that_catches_missed_deletions()
    {
        await using var cluster = await Cluster.StartAsync(new LocalKubeApiServerOptions { HistoryLimit = 5 });
        var cutter = cluster.Cutter();
        await cluster.CreateAsync(Cluster.Plugin("doomed", "file:///nowhere.wasm"));
        var op = await cluster.StartOperatorAsync(cluster.Options() with { LeaderElection = false }, via: cutter.Url);
        await Cluster.EventuallyAsync(() => op.Host.Cache.Get("default/doomed") is not null, "the first list");

        cutter.Pause();
        // The secrets reflector goes through the same cut and may report its stall first: wait for the plugins'.
        await Cluster.EventuallyAsync(() => op.Host.Health() is (false, var detail) && detail.Contains("wasmplugins", StringComparison.Ordinal),
            "the wasmplugins stall to show in /healthz");
        Assert.Contains("wasmoperator_reflector_stalled{resource=\"wasmplugins\"} 1", await MetricsText(op));
        await cluster.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new k8s.Models.V1Patch("""{"metadata":{"finalizers":null}}""", k8s.Models.V1Patch.PatchType.MergePatch),
            WasmPlugin.Group, WasmPlugin.Version, "default", WasmPlugin.Plural, "doomed");
        await cluster.DeleteAsync("doomed");
        for (var i = 0; i < 10; i++)
        {
            await cluster.CreateAsync(Cluster.Plugin($"missed-{i}", "file:///nowhere.wasm"));
        }

        cutter.Resume();
        await Cluster.EventuallyAsync(() => op.Host.Cache.Count == 10 && op.Host.Cache.Get("default/doomed") is null, "the relist");
        await Cluster.EventuallyAsync(() => op.Host.Health() is (true, _), "/healthz to recover");

        Assert.True(op.Host.Metrics.WatchRestarts.WithLabels(WasmPlugin.Plural, "gone").Value >= 1);
        Assert.True(op.Host.Metrics.Relists.WithLabels(WasmPlugin.Plural).Value >= 2);
        Assert.Contains("wasmoperator_reflector_stalled{resource=\"wasmplugins\"} 0", await MetricsText(op));
    }

    [Fact]
    public async Task Open_watches_without_events_are_not_reported_stalled()
    {
        await using var cluster = await Cluster.StartAsync();
        var op = await cluster.StartOperatorAsync(cluster.Options() with { LeaderElection = false, WatchTimeout = TimeSpan.FromMinutes(5) });
        await Cluster.EventuallyAsync(() => op.Host.IsSynced, "the first list");

        // No plugin, no Secret, no bookmark for a minute: the watches are quiet, not broken.
        await Task.Delay(TimeSpan.FromSeconds(3));

        Assert.Equal((true, "ok"), op.Host.Health());
        Assert.Contains("wasmoperator_reflector_stalled{resource=\"wasmplugins\"} 0", await MetricsText(op));
        Assert.Contains("wasmoperator_reflector_stalled{resource=\"secrets\"} 0", await MetricsText(op));
        Assert.Equal(1, op.Host.Metrics.Relists.WithLabels("secrets").Value);
    }

    private static async Task<string> MetricsText(Replica op)
    {
        using var text = new MemoryStream();
        await op.Host.Metrics.Registry.CollectAndExportAsTextAsync(text);
        return System.Text.Encoding.UTF8.GetString(text.ToArray());
    }

    [Fact]
    public async Task Bookmarks_carry_the_resourceVersion_forward_without_any_change_to_plugins()
    {
        await using var cluster = await Cluster.StartAsync(new LocalKubeApiServerOptions { BookmarkInterval = TimeSpan.FromMilliseconds(200) });
        var op = await cluster.StartOperatorAsync(cluster.Options() with { LeaderElection = false });
        await Cluster.EventuallyAsync(() => op.Host.IsSynced, "the first list");

        var unrelated = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(
            new k8s.Models.V1ConfigMap { Metadata = new k8s.Models.V1ObjectMeta { Name = "unrelated" } }, "default");
        await Cluster.EventuallyAsync(() => op.Host.WatchResourceVersions[0] == unrelated.Metadata.ResourceVersion, "a bookmark at the newer resourceVersion");

        Assert.Equal(0, op.Host.Cache.Count);
        Assert.Equal(1, op.Host.Metrics.Relists.WithLabels(WasmPlugin.Plural).Value);
    }

    [Fact]
    public async Task A_watch_ended_by_its_timeout_is_resumed_from_the_last_resourceVersion_without_a_relist()
    {
        await using var cluster = await Cluster.StartAsync();
        var op = await cluster.StartOperatorAsync(cluster.Options() with { LeaderElection = false, WatchTimeout = TimeSpan.FromSeconds(1) });
        await Cluster.EventuallyAsync(() => op.Host.IsSynced, "the first list");
        await Cluster.EventuallyAsync(() => op.Host.Metrics.WatchRestarts.WithLabels(WasmPlugin.Plural, "timeout").Value >= 2, "two watch timeouts");

        await cluster.CreateAsync(Cluster.Plugin("after-timeouts", "file:///nowhere.wasm"));
        await Cluster.EventuallyAsync(() => op.Host.Cache.Get("default/after-timeouts") is not null, "the plugin in the cache");

        Assert.Equal(1, op.Host.Metrics.Relists.WithLabels(WasmPlugin.Plural).Value);
        // Timeouts never count as failures; on a loaded machine an unrelated transient error can briefly exceed the
        // 1 s test threshold, so the claim checked is that health does not stay red.
        await Cluster.EventuallyAsync(() => op.Host.Health().Healthy, "a healthy /healthz after the watch timeouts");
    }
}
