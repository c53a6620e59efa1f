using k8s;
using System.Text.Json.Nodes;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class WasmPluginReconcilerTests
{
    [Fact]
    public async Task A_created_plugin_gets_a_finalizer_a_desired_revision_and_Ready_status()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("one");
        var op = await cluster.StartOperatorAsync();

        await cluster.CreateAsync(Cluster.Plugin("hello", url, sha));
        var plugin = await cluster.WaitForConditionAsync("hello", ConditionTypes.Ready, ConditionStatus.True);

        var desired = Assert.Single(op.Desired.Snapshot()).Value;
        Assert.Equal("default/hello", desired.Key);
        Assert.Equal($"sha256:{sha}", desired.ModuleDigest);
        Assert.Equal(desired.Revision, plugin.Status!.Revisions!.Stable!.Revision);
        Assert.Equal($"sha256:{sha}", plugin.Status.Module!.ModuleDigest);
        Assert.Equal("0.2.1", plugin.Status.Module.AbiVersion);
        Assert.Equal(1, plugin.Status.ObservedGeneration);
        Assert.Equal(ConditionStatus.False, Condition(plugin, ConditionTypes.Reconciling));
        Assert.Equal(ConditionStatus.False, Condition(plugin, ConditionTypes.Stalled));
        Assert.Equal(ConditionStatus.True, Condition(plugin, ConditionTypes.ModuleVerified));
        Assert.Contains(WasmPluginReconciler.Finalizer, plugin.Metadata!.Extra!["finalizers"].EnumerateArray().Select(e => e.GetString()));
        Assert.True(op.Host.ModuleCache.IsPinned(desired.ModuleDigest));
        // The event follows the status patch: wait for it rather than race it.
        await Cluster.EventuallyAsync(async () => (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items
            .Any(e => e.Reason == "RevisionReady" && e.InvolvedObject.Name == "hello" && e.Type == "Normal"), "a Normal RevisionReady event for hello");
    }

    [Fact]
    public async Task Changing_pluginConfig_makes_a_new_revision_and_advances_observedGeneration()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, _) = cluster.Modules.ProxyWasm("one");
        var op = await cluster.StartOperatorAsync();
        await cluster.CreateAsync(Cluster.Plugin("cfg", url, config: new JsonObject { ["header"] = "a" }));
        var first = await cluster.WaitForConditionAsync("cfg", ConditionTypes.Ready, ConditionStatus.True);

        await cluster.PatchSpecAsync("cfg", new JsonObject { ["pluginConfig"] = new JsonObject { ["header"] = "b" } });
        await Cluster.EventuallyAsync(async () => (await cluster.GetAsync("cfg"))?.Status?.ObservedGeneration == 2, "observedGeneration 2");
        var second = await cluster.WaitForConditionAsync("cfg", ConditionTypes.Ready, ConditionStatus.True);

        Assert.NotEqual(first.Status!.Revisions!.Stable!.Revision, second.Status!.Revisions!.Stable!.Revision);
        Assert.Equal(second.Status.Revisions.Stable.Revision, op.Desired.Get("default/cfg")!.Revision);
        Assert.Equal("b", op.Desired.Get("default/cfg")!.Spec.PluginConfig!["header"]!.GetValue<string>());
        Assert.Equal(first.Status.Module!.ModuleDigest, second.Status.Module!.ModuleDigest);
    }

    [Fact]
    public async Task Changing_only_the_selector_keeps_the_revision_and_hands_the_new_selector_to_the_distributor()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("selector");
        var op = await cluster.StartOperatorAsync();
        await cluster.CreateAsync(Cluster.Plugin("sel", url, sha));
        var first = await cluster.WaitForConditionAsync("sel", ConditionTypes.Ready, ConditionStatus.True);

        await cluster.PatchSpecAsync("sel", new JsonObject { ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = "edge" } } });
        await Cluster.EventuallyAsync(async () => (await cluster.GetAsync("sel"))?.Status?.ObservedGeneration == 2, "observedGeneration 2");
        var second = await cluster.WaitForConditionAsync("sel", ConditionTypes.Ready, ConditionStatus.True);

        var desired = op.Desired.Get("default/sel")!;
        Assert.Equal(first.Status!.Revisions!.Stable!.Revision, second.Status!.Revisions!.Stable!.Revision);
        Assert.Equal("edge", desired.Spec.Selector!.MatchLabels!["app"]);
        Assert.Equal(2, desired.Generation);
        Assert.Equal(2, second.Status.Revisions.Stable.Generation);
        Assert.Equal(2, op.Desired.AppliesOf("default/sel"));
    }

    [Fact]
    public async Task Deleting_a_plugin_removes_it_from_the_desired_state_unpins_its_module_and_lets_it_go()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("gone");
        var op = await cluster.StartOperatorAsync();
        await cluster.CreateAsync(Cluster.Plugin("bye", url, sha));
        await cluster.WaitForConditionAsync("bye", ConditionTypes.Ready, ConditionStatus.True);
        Assert.True(op.Host.ModuleCache.IsPinned($"sha256:{sha}"));

        await cluster.DeleteAsync("bye");
        await Cluster.EventuallyAsync(async () => await cluster.GetAsync("bye") is null, "the plugin to be deleted");

        Assert.Empty(op.Desired.Snapshot());
        Assert.Equal(1, op.Desired.Removes);
        Assert.False(op.Host.ModuleCache.IsPinned($"sha256:{sha}"));
    }

    [Fact]
    public async Task A_url_outside_the_allowed_roots_stalls_with_InvalidUrl_and_is_not_distributed()
    {
        await using var cluster = await Cluster.StartAsync();
        var op = await cluster.StartOperatorAsync();

        await cluster.CreateAsync(Cluster.Plugin("bad-url", "file:///etc/passwd.wasm"));
        var plugin = await cluster.WaitForConditionAsync("bad-url", ConditionTypes.Stalled, ConditionStatus.True);

        var stalled = plugin.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!;
        Assert.Equal(ConditionReasons.InvalidUrl, stalled.Reason);
        Assert.Contains("/etc/passwd.wasm", stalled.Message, StringComparison.Ordinal);
        Assert.Equal(ConditionStatus.False, Condition(plugin, ConditionTypes.Ready));
        Assert.Equal(ConditionStatus.False, Condition(plugin, ConditionTypes.Reconciling));
        Assert.Empty(op.Desired.Snapshot());
    }

    [Fact]
    public async Task A_digest_mismatch_stalls_and_marks_the_module_not_verified()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, _) = cluster.Modules.ProxyWasm("real");
        var op = await cluster.StartOperatorAsync();

        await cluster.CreateAsync(Cluster.Plugin("mismatch", url, new string('a', 64)));
        var plugin = await cluster.WaitForConditionAsync("mismatch", ConditionTypes.Stalled, ConditionStatus.True);

        var verified = plugin.Status!.Conditions!.Find(c => c.Type == ConditionTypes.ModuleVerified)!;
        Assert.Equal(ConditionStatus.False, verified.Status);
        Assert.Equal(ConditionReasons.DigestMismatch, verified.Reason);
        Assert.Contains(new string('a', 64), verified.Message, StringComparison.Ordinal);
        Assert.Empty(op.Desired.Snapshot());
        await Cluster.EventuallyAsync(async () => (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items
            .Any(e => e.Reason == ConditionReasons.DigestMismatch && e.Type == "Warning"), "a Warning DigestMismatch event");
    }

    [Fact]
    public async Task A_module_without_the_Proxy_Wasm_ABI_is_rejected_and_stalls()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, _) = cluster.Modules.NotProxyWasm();
        var op = await cluster.StartOperatorAsync();

        await cluster.CreateAsync(Cluster.Plugin("plain", url));
        var plugin = await cluster.WaitForConditionAsync("plain", ConditionTypes.Stalled, ConditionStatus.True);

        var verified = plugin.Status!.Conditions!.Find(c => c.Type == ConditionTypes.ModuleVerified)!;
        Assert.Equal(ConditionStatus.False, verified.Status);
        Assert.Equal(ConditionReasons.AbiRejected, verified.Reason);
        Assert.Contains("ABI", verified.Message, StringComparison.Ordinal);
        Assert.Empty(op.Desired.Snapshot());
    }

    [Fact]
    public async Task A_failing_new_revision_never_replaces_the_good_one()
    {
        await using var cluster = await Cluster.StartAsync();
        var (good, goodSha) = cluster.Modules.ProxyWasm("good");
        var (bad, _) = cluster.Modules.NotProxyWasm();
        var op = await cluster.StartOperatorAsync();
        await cluster.CreateAsync(Cluster.Plugin("keep", good, goodSha));
        var before = await cluster.WaitForConditionAsync("keep", ConditionTypes.Ready, ConditionStatus.True);

        await cluster.PatchSpecAsync("keep", new JsonObject { ["url"] = bad, ["sha256"] = null });
        var after = await cluster.WaitForConditionAsync("keep", ConditionTypes.Stalled, ConditionStatus.True);

        Assert.Equal(before.Status!.Revisions!.Stable!.Revision, after.Status!.Revisions!.Stable!.Revision);
        Assert.Equal($"sha256:{goodSha}", after.Status.Module!.ModuleDigest);
        Assert.Equal(before.Status.Revisions.Stable.Revision, op.Desired.Get("default/keep")!.Revision);
        Assert.True(op.Host.ModuleCache.IsPinned($"sha256:{goodSha}"));
        Assert.Equal(ConditionStatus.False, Condition(after, ConditionTypes.Ready));
    }

    [Fact]
    public async Task A_missing_module_file_is_retried_with_backoff_and_recovers_when_it_appears()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("late");
        var path = cluster.Modules.PathOf(url);
        var hidden = path + ".hidden";
        File.Move(path, hidden);
        var op = await cluster.StartOperatorAsync();

        await cluster.CreateAsync(Cluster.Plugin("late", url, sha));
        var waiting = await cluster.WaitForConditionAsync("late", ConditionTypes.Reconciling, ConditionStatus.True);
        await Cluster.EventuallyAsync(() => op.Host.Queue.NumRequeues("default/late") >= 2, "at least two retries");
        File.Move(hidden, path);
        var ready = await cluster.WaitForConditionAsync("late", ConditionTypes.Ready, ConditionStatus.True);

        Assert.Equal(ConditionReasons.FetchFailed, waiting.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Reconciling)!.Reason);
        Assert.Equal(ConditionStatus.False, Condition(waiting, ConditionTypes.Stalled));
        Assert.Equal($"sha256:{sha}", ready.Status!.Module!.ModuleDigest);
        Assert.NotNull(op.Desired.Get("default/late"));
    }

    [Theory]
    [InlineData("bad key!", "web", "spec.selector.matchLabels: Invalid value: \"bad key!\": a label key's name")]
    [InlineData("Example.com/app", "web", "spec.selector.matchLabels: Invalid value: \"Example.com/app\": a label key's prefix")]
    [InlineData("app", "-web", "spec.selector.matchLabels[app]: Invalid value: \"-web\": a label value is empty or at most 63 characters")]
    public async Task A_selector_label_kubernetes_would_not_accept_stalls_the_plugin_naming_it(string key, string value, string message)
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("labels");
        var op = await cluster.StartOperatorAsync();
        var plugin = Cluster.Plugin("labels", url, sha);
        plugin["spec"]!["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { [key] = value } };

        await cluster.CreateAsync(plugin);
        var stalled = await cluster.WaitForConditionAsync("labels", ConditionTypes.Stalled, ConditionStatus.True);

        // It was accepted and selected no pod at all, with Ready=True: no label can have that key or value.
        var condition = stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!;
        Assert.Equal(ConditionReasons.InvalidSpec, condition.Reason);
        Assert.Contains(message, condition.Message, StringComparison.Ordinal);
        Assert.Null(op.Desired.Get("default/labels"));
    }

    [Fact]
    public async Task NETWORK_plugins_and_targetRefs_are_reported_Unsupported()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, _) = cluster.Modules.ProxyWasm("net");
        var op = await cluster.StartOperatorAsync();
        var network = Cluster.Plugin("tcp", url);
        network["spec"]!["type"] = "NETWORK";
        var gateway = Cluster.Plugin("gw", url);
        gateway["spec"]!["targetRefs"] = new JsonArray(new JsonObject { ["group"] = "gateway.networking.k8s.io", ["kind"] = "Gateway", ["name"] = "g" });

        await cluster.CreateAsync(network);
        await cluster.CreateAsync(gateway);
        var tcp = await cluster.WaitForConditionAsync("tcp", ConditionTypes.Stalled, ConditionStatus.True);
        var gw = await cluster.WaitForConditionAsync("gw", ConditionTypes.Stalled, ConditionStatus.True);

        Assert.Equal(ConditionReasons.Unsupported, tcp.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!.Reason);
        Assert.Contains("spec.targetRefs", gw.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!.Message, StringComparison.Ordinal);
        Assert.Empty(op.Desired.Snapshot());
    }

    [Fact]
    public async Task An_operator_restart_loses_nothing_and_writes_nothing_twice()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("restart");
        var first = await cluster.StartOperatorAsync();
        for (var i = 0; i < 5; i++)
        {
            await cluster.CreateAsync(Cluster.Plugin($"p{i}", url, sha));
        }

        for (var i = 0; i < 5; i++)
        {
            await cluster.WaitForConditionAsync($"p{i}", ConditionTypes.Ready, ConditionStatus.True);
        }

        var versions = new List<string?>();
        for (var i = 0; i < 5; i++)
        {
            versions.Add((await cluster.GetAsync($"p{i}"))!.Metadata!.ResourceVersion);
        }

        // The RevisionReady event follows the status patch: wait for all five before counting.
        var seen = new List<string>();
        await Cluster.EventuallyAsync(async () =>
        {
            var items = (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items;
            seen = [.. items.Select(e => $"{e.InvolvedObject.Name}:{e.Reason}x{e.Count}")];
            return items.Count == 5;
        }, () => $"five RevisionReady events; seen: {string.Join(", ", seen)}");
        Assert.All(seen, e => Assert.Contains(":RevisionReady", e, StringComparison.Ordinal));
        var eventsBefore = (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items.Count;
        await first.DisposeAsync();

        // Created while no operator runs: must be picked up by the next one.
        await cluster.CreateAsync(Cluster.Plugin("while-down", url, sha));
        var second = await cluster.StartOperatorAsync();
        await cluster.WaitForConditionAsync("while-down", ConditionTypes.Ready, ConditionStatus.True);
        await Cluster.EventuallyAsync(() => second.Desired.Snapshot().Count == 6 && second.Host.Queue.Depth == 0, "all six desired");

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(versions[i], (await cluster.GetAsync($"p{i}"))!.Metadata!.ResourceVersion);
        }

        Assert.Equal(1, second.Host.Metrics.StatusPatches.Value);
        await Cluster.EventuallyAsync(async () => (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items.Any(e => e.InvolvedObject.Name == "while-down"), "the while-down event");
        Assert.Equal(eventsBefore + 1, (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items.Count);
    }

    [Fact]
    public async Task A_plugin_deleted_while_no_operator_runs_is_finalized_by_the_next_one()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("deleted-while-down");
        var first = await cluster.StartOperatorAsync();
        await cluster.CreateAsync(Cluster.Plugin("doomed", url, sha));
        await cluster.CreateAsync(Cluster.Plugin("stays", url, sha));
        await cluster.WaitForConditionAsync("doomed", ConditionTypes.Ready, ConditionStatus.True);
        await cluster.WaitForConditionAsync("stays", ConditionTypes.Ready, ConditionStatus.True);
        await first.DisposeAsync();

        await cluster.DeleteAsync("doomed");
        var terminating = await cluster.GetAsync("doomed");
        var second = await cluster.StartOperatorAsync();
        await Cluster.EventuallyAsync(async () => await cluster.GetAsync("doomed") is null, "the finalizer to be removed");
        await Cluster.EventuallyAsync(() => second.Desired.Get("default/stays") is not null && second.Host.Queue.Depth == 0, "the remaining plugin desired");

        Assert.True(terminating!.Metadata!.Extra!.ContainsKey("deletionTimestamp"));
        Assert.Null(second.Desired.Get("default/doomed"));
        Assert.Equal(0, second.Desired.AppliesOf("default/doomed"));
        Assert.Equal(1, second.Desired.AppliesOf("default/stays"));
        Assert.True(second.Host.ModuleCache.IsPinned($"sha256:{sha}"));
    }

    private static ConditionStatus? Condition(WasmPlugin plugin, string type) => plugin.Status?.Conditions?.Find(c => c.Type == type)?.Status;
}
