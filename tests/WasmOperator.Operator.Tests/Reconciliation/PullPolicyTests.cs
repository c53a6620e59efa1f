using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class PullPolicyTests
{
    [Fact]
    public async Task With_pull_policy_Always_the_module_is_resolved_again_on_an_interval_and_a_new_one_becomes_a_new_revision()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, firstSha) = cluster.Modules.ProxyWasm("always");
        var op = await cluster.StartOperatorAsync(cluster.Options() with { AlwaysPullInterval = TimeSpan.FromMilliseconds(300) });
        var plugin = Cluster.Plugin("always", url);
        plugin["spec"]!["imagePullPolicy"] = "Always";
        await cluster.CreateAsync(plugin);
        var first = await cluster.WaitForConditionAsync("always", ConditionTypes.Ready, ConditionStatus.True);

        // Same URL, new content, no spec change: only the periodic re-resolve can notice.
        var (otherUrl, secondSha) = cluster.Modules.ProxyWasm("always-v2");
        // Replaced the way a deploy does it (write aside, rename over): the operator re-reads the file every
        // 300 ms with FileShare.Read, so overwriting it in place here could fail with "in use by another process".
        var target = cluster.Modules.PathOf(url);
        File.Copy(cluster.Modules.PathOf(otherUrl), target + ".new", overwrite: true);
        File.Move(target + ".new", target, overwrite: true);
        await Cluster.EventuallyAsync(async () => (await cluster.GetAsync("always"))?.Status?.Module?.ModuleDigest == $"sha256:{secondSha}", "the new module");
        var second = await cluster.GetAsync("always");

        Assert.Equal($"sha256:{firstSha}", first.Status!.Module!.ModuleDigest);
        Assert.NotEqual(first.Status.Revisions!.Stable!.Revision, second!.Status!.Revisions!.Stable!.Revision);
        Assert.Equal(1, second.Metadata!.Generation);
        Assert.Equal($"sha256:{secondSha}", op.Desired.Get("default/always")!.ModuleDigest);
        Assert.False(op.Host.ModuleCache.IsPinned($"sha256:{firstSha}"));
        Assert.True(op.Host.ModuleCache.IsPinned($"sha256:{secondSha}"));
    }

    [Fact]
    public async Task With_pull_policy_Always_a_plugin_stalled_by_a_bad_republished_module_recovers_when_a_good_one_is_republished()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, firstSha) = cluster.Modules.ProxyWasm("always-a");
        var (badUrl, _) = cluster.Modules.NotProxyWasm();
        var (goodUrl, goodSha) = cluster.Modules.ProxyWasm("always-b");
        var op = await cluster.StartOperatorAsync(cluster.Options() with { AlwaysPullInterval = TimeSpan.FromMilliseconds(300) });
        var plugin = Cluster.Plugin("always", url);
        plugin["spec"]!["imagePullPolicy"] = "Always";
        await cluster.CreateAsync(plugin);
        await cluster.WaitForConditionAsync("always", ConditionTypes.Ready, ConditionStatus.True);
        var target = cluster.Modules.PathOf(url);

        Republish(cluster.Modules.PathOf(badUrl), target);
        var stalled = await cluster.WaitForConditionAsync("always", ConditionTypes.Stalled, ConditionStatus.True);
        var desiredWhileStalled = op.Desired.Get("default/always")!.ModuleDigest;
        // Still resolved on the interval while stalled, without writing the same status again.
        var reconciles = op.Host.Reconciles;
        await Cluster.EventuallyAsync(() => op.Host.Reconciles >= reconciles + 1, "a re-resolve of the stalled plugin");
        var patches = op.Host.Metrics.StatusPatches.Value;
        await Cluster.EventuallyAsync(() => op.Host.Reconciles >= reconciles + 4, "three more re-resolves");
        var patchesWhileStalled = op.Host.Metrics.StatusPatches.Value - patches;

        Republish(cluster.Modules.PathOf(goodUrl), target);
        await Cluster.EventuallyAsync(async () => (await cluster.GetAsync("always"))?.Status?.Module?.ModuleDigest == $"sha256:{goodSha}", "the good module republished");
        var recovered = await cluster.WaitForConditionAsync("always", ConditionTypes.Ready, ConditionStatus.True);

        Assert.Equal(ConditionReasons.AbiRejected, stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!.Reason);
        Assert.Equal($"sha256:{firstSha}", desiredWhileStalled);
        Assert.Equal(0, patchesWhileStalled);
        Assert.Equal(ConditionStatus.False, recovered.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!.Status);
        Assert.Equal($"sha256:{goodSha}", op.Desired.Get("default/always")!.ModuleDigest);
    }

    [Fact]
    public async Task A_plugin_stalled_by_its_module_says_it_is_resolved_again_under_pull_policy_Always_and_waits_for_a_spec_change_otherwise()
    {
        await using var cluster = await Cluster.StartAsync();
        var (badUrl, _) = cluster.Modules.NotProxyWasm();
        var op = await cluster.StartOperatorAsync(cluster.Options() with { AlwaysPullInterval = TimeSpan.FromMinutes(7) });
        var always = Cluster.Plugin("always", badUrl);
        always["spec"]!["imagePullPolicy"] = "Always";
        var ifNotPresent = Cluster.Plugin("if-not-present", badUrl);
        ifNotPresent["spec"]!["imagePullPolicy"] = "IfNotPresent";
        await cluster.CreateAsync(always);
        await cluster.CreateAsync(ifNotPresent);

        var rechecked = await cluster.WaitForConditionAsync("always", ConditionTypes.Stalled, ConditionStatus.True);
        var waiting = await cluster.WaitForConditionAsync("if-not-present", ConditionTypes.Stalled, ConditionStatus.True);

        Assert.Equal("spec.url is resolved again every 420s (imagePullPolicy Always) or on a spec change",
            rechecked.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Reconciling)!.Message);
        Assert.Equal("waiting for a spec change", waiting.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Reconciling)!.Message);
    }

    [Fact]
    public async Task With_pull_policy_IfNotPresent_an_unchanged_plugin_keeps_its_digest_across_a_restart_with_an_empty_cache_after_the_tag_moved()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        var (firstUrl, firstSha) = cluster.Modules.ProxyWasm("kept-v1");
        var (secondUrl, _) = cluster.Modules.ProxyWasm("kept-v2");
        var firstManifest = await registry.PushAsync("team/kept", "v1", File.ReadAllBytes(cluster.Modules.PathOf(firstUrl)));
        var first = await cluster.StartOperatorAsync(cluster.Options("replica-a") with { InsecureRegistries = [registry.HostPort] });
        var plugin = Cluster.Plugin("kept", $"oci://{registry.HostPort}/team/kept:v1");
        plugin["spec"]!["imagePullPolicy"] = "IfNotPresent";
        await cluster.CreateAsync(plugin);
        var before = await cluster.WaitForConditionAsync("kept", ConditionTypes.Ready, ConditionStatus.True);
        await first.DisposeAsync();

        // The tag moves while no operator runs; the next one starts with an empty cache (a rescheduled pod).
        await registry.PushAsync("team/kept", "v1", File.ReadAllBytes(cluster.Modules.PathOf(secondUrl)));
        var second = await cluster.StartOperatorAsync(cluster.Options("replica-b") with { InsecureRegistries = [registry.HostPort] });
        await Cluster.EventuallyAsync(() => second.Host.Reconciles >= 1 && second.Desired.Get("default/kept") is not null, "the plugin reconciled");
        var after = await cluster.GetAsync("kept");

        Assert.Equal(firstManifest, before.Status!.Module!.ManifestDigest);
        Assert.Equal($"sha256:{firstSha}", second.Desired.Get("default/kept")!.ModuleDigest);
        Assert.Equal($"sha256:{firstSha}", after!.Status!.Module!.ModuleDigest);
        Assert.Equal($"{registry.HostPort}/team/kept@{firstManifest}", after.Status.Revisions!.Stable!.ResolvedRef);
        Assert.Equal(before.Status.Revisions!.Stable!.Revision, after.Status.Revisions.Stable.Revision);
    }

    [Fact]
    public async Task With_pull_policy_IfNotPresent_a_kept_digest_that_cannot_be_fetched_again_is_named_with_how_to_resolve_the_tag_again()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        await using var front = new TcpCutter(new Uri($"http://{registry.HostPort}/"));
        var host = front.Url.Authority;
        var (url, _) = cluster.Modules.ProxyWasm("unfetchable");
        var manifest = await registry.PushAsync("team/unfetchable", "v1", File.ReadAllBytes(cluster.Modules.PathOf(url)));
        var first = await cluster.StartOperatorAsync(cluster.Options("replica-a") with { InsecureRegistries = [host] });
        await cluster.CreateAsync(Cluster.Plugin("unfetchable", $"oci://{host}/team/unfetchable:v1"));
        await cluster.WaitForConditionAsync("unfetchable", ConditionTypes.Ready, ConditionStatus.True);
        await first.DisposeAsync();

        // An empty cache and a registry that cannot be reached: the digest status records is all there is to go on.
        front.Pause();
        await cluster.StartOperatorAsync(cluster.Options("replica-b") with { InsecureRegistries = [host] });
        WasmPlugin? failing = null;
        // FetchFailed, or RegistryUnavailable once the failed attempts (the startup restore's included) opened the
        // registry's circuit breaker: either way the message must name the digest kept.
        await Cluster.EventuallyAsync(async () =>
            (failing = await cluster.GetAsync("unfetchable"))?.Status?.Conditions?.Find(c => c.Type == ConditionTypes.Reconciling)?.Reason
                is ConditionReasons.FetchFailed or ConditionReasons.RegistryUnavailable,
            "the fetch to fail");

        Assert.Contains($"imagePullPolicy IfNotPresent keeps {host}/team/unfetchable@{manifest}, the digest generation 1 resolved spec.url to",
            failing!.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_pull_policy_IfNotPresent_a_plugin_keeps_its_digest_when_another_plugin_pulls_the_moved_tag_Always_and_resolves_it_again_on_a_spec_change()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        var (firstUrl, firstSha) = cluster.Modules.ProxyWasm("shared-v1");
        var (secondUrl, secondSha) = cluster.Modules.ProxyWasm("shared-v2");
        var (markerUrl, markerSha) = cluster.Modules.ProxyWasm("marker");
        await registry.PushAsync("team/shared", "v1", File.ReadAllBytes(cluster.Modules.PathOf(firstUrl)));
        await cluster.Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "other" } });
        // One worker takes keys in the order they are queued: the marker's pass ends after the annotated plugin's.
        var op = await cluster.StartOperatorAsync(cluster.Options() with
        {
            InsecureRegistries = [registry.HostPort], AlwaysPullInterval = TimeSpan.FromMilliseconds(300), Workers = 1,
        });
        var url = $"oci://{registry.HostPort}/team/shared:v1";
        var kept = Cluster.Plugin("kept", url);
        kept["spec"]!["imagePullPolicy"] = "IfNotPresent";
        var always = Cluster.Plugin("always", url, ns: "other");
        always["spec"]!["imagePullPolicy"] = "Always";
        await cluster.CreateAsync(kept);
        await cluster.CreateAsync(always);
        await cluster.WaitForConditionAsync("kept", ConditionTypes.Ready, ConditionStatus.True);
        await cluster.WaitForConditionAsync("always", ConditionTypes.Ready, ConditionStatus.True, "other");

        await registry.PushAsync("team/shared", "v1", File.ReadAllBytes(cluster.Modules.PathOf(secondUrl)));
        await Cluster.EventuallyAsync(async () => (await cluster.GetAsync("always", "other"))?.Status?.Module?.ModuleDigest == $"sha256:{secondSha}", "the Always plugin on the moved tag");
        // A change of metadata only (no new generation) reconciles the plugin again.
        await cluster.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"metadata":{"annotations":{"example.com/touched":"1"}}}""", V1Patch.PatchType.MergePatch),
            WasmPlugin.Group, WasmPlugin.Version, "default", WasmPlugin.Plural, "kept");
        await cluster.CreateAsync(Cluster.Plugin("marker", markerUrl, markerSha));
        await cluster.WaitForConditionAsync("marker", ConditionTypes.Ready, ConditionStatus.True);
        var touched = await cluster.GetAsync("kept");
        var keptDigest = op.Desired.Get("default/kept")!.ModuleDigest;

        await cluster.PatchSpecAsync("kept", new JsonObject { ["pluginConfig"] = new JsonObject { ["changed"] = true } });
        await Cluster.EventuallyAsync(async () => (await cluster.GetAsync("kept"))?.Status?.Revisions?.Stable?.Generation == 2, "the new generation");
        var changed = await cluster.GetAsync("kept");

        Assert.Equal($"sha256:{firstSha}", keptDigest);
        Assert.Equal($"sha256:{firstSha}", touched!.Status!.Module!.ModuleDigest);
        Assert.Equal(1, touched.Metadata!.Generation);
        Assert.Equal($"sha256:{secondSha}", changed!.Status!.Module!.ModuleDigest);
        Assert.Equal($"sha256:{secondSha}", op.Desired.Get("default/kept")!.ModuleDigest);
    }

    /// <param name="evilRepository">Another repository (refused as no pin of spec.url), or spec.url's own under another tag
    /// (fetched, then refused as not the module status recorded).</param>
    [Theory]
    [InlineData("team/evil")]
    [InlineData("team/good")]
    public async Task With_pull_policy_IfNotPresent_a_kept_digest_edited_in_status_is_not_obeyed(string evilRepository)
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        var (goodUrl, goodSha) = cluster.Modules.ProxyWasm("good");
        var (evilUrl, _) = cluster.Modules.ProxyWasm("evil");
        var (markerUrl, markerSha) = cluster.Modules.ProxyWasm("edit-marker");
        await registry.PushAsync("team/good", "v1", File.ReadAllBytes(cluster.Modules.PathOf(goodUrl)));
        var evilManifest = await registry.PushAsync(evilRepository, "v2", File.ReadAllBytes(cluster.Modules.PathOf(evilUrl)));
        // One worker takes keys in the order they are queued: the marker's pass ends after the edited plugin's.
        var op = await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [registry.HostPort], Workers = 1 });
        var plugin = Cluster.Plugin("victim", $"oci://{registry.HostPort}/team/good:v1");
        plugin["spec"]!["imagePullPolicy"] = "IfNotPresent";
        await cluster.CreateAsync(plugin);
        await cluster.WaitForConditionAsync("victim", ConditionTypes.Ready, ConditionStatus.True);

        // Someone with access to the status subresource points the kept digest at another repository, then the plugin is
        // reconciled again without a spec change.
        await cluster.Client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(new JsonObject { ["status"] = new JsonObject { ["revisions"] = new JsonObject { ["stable"] = new JsonObject
            {
                ["resolvedRef"] = $"{registry.HostPort}/{evilRepository}@{evilManifest}",
            } } } }.ToJsonString(), V1Patch.PatchType.MergePatch),
            WasmPlugin.Group, WasmPlugin.Version, "default", WasmPlugin.Plural, "victim");
        await cluster.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"metadata":{"annotations":{"example.com/touched":"1"}}}""", V1Patch.PatchType.MergePatch),
            WasmPlugin.Group, WasmPlugin.Version, "default", WasmPlugin.Plural, "victim");
        await cluster.CreateAsync(Cluster.Plugin("marker", markerUrl, markerSha));
        await cluster.WaitForConditionAsync("marker", ConditionTypes.Ready, ConditionStatus.True);

        Assert.Equal($"sha256:{goodSha}", op.Desired.Get("default/victim")!.ModuleDigest);
        Assert.Equal($"sha256:{goodSha}", (await cluster.GetAsync("victim"))!.Status!.Module!.ModuleDigest);
    }

    // Written aside and renamed over, as a deploy does: the operator may be reading the file at that moment.
    private static void Republish(string from, string target)
    {
        File.Copy(from, target + ".new", overwrite: true);
        File.Move(target + ".new", target, overwrite: true);
    }

    [Theory]
    [InlineData("oci://registry.example/repo:latest", null, "Always")]
    [InlineData("registry.example/repo", null, "Always")]
    [InlineData("oci://registry.example:5000/repo:v1", null, "IfNotPresent")]
    [InlineData("oci://registry.example/repo@sha256:0000000000000000000000000000000000000000000000000000000000000000", null, "IfNotPresent")]
    [InlineData("https://example.com/latest.wasm", null, "IfNotPresent")]
    [InlineData("oci://registry.example/repo:latest", "IfNotPresent", "IfNotPresent")]
    [InlineData("oci://registry.example/repo:v1", "Always", "Always")]
    public void Unset_pull_policy_means_IfNotPresent_except_Always_for_an_oci_latest_tag(string url, string? policy, string expected)
    {
        var spec = new WasmPluginSpec { Url = url, ImagePullPolicy = policy is null ? null : Enum.Parse<PullPolicy>(policy) };

        Assert.Equal(expected, PullPolicies.Effective(spec).ToString());
    }

    [Fact]
    public void The_revision_changes_with_what_proxies_load_and_not_with_where_it_runs()
    {
        var spec = new WasmPluginSpec { Url = "oci://r/p:v1", PluginName = "root", PluginConfig = new JsonObject { ["a"] = 1 } };
        var moved = new WasmPluginSpec { Url = "oci://r/p:v1", PluginName = "root", PluginConfig = new JsonObject { ["a"] = 1 }, Selector = new LabelSelector { MatchLabels = new() { ["app"] = "x" } } };
        var reconfigured = new WasmPluginSpec { Url = "oci://r/p:v1", PluginName = "root", PluginConfig = new JsonObject { ["a"] = 2 } };

        var revision = RevisionHasher.Compute("sha256:aa", spec);

        Assert.Equal(revision, RevisionHasher.Compute("sha256:aa", moved));
        Assert.NotEqual(revision, RevisionHasher.Compute("sha256:aa", reconfigured));
        Assert.NotEqual(revision, RevisionHasher.Compute("sha256:bb", spec));
    }
}
