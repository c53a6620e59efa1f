using System.Text.Json.Nodes;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class StatusWriteTests
{
    [Fact]
    public async Task A_status_write_removes_what_the_new_status_no_longer_has_so_a_restart_restores_the_stable_revision()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("moved");
        await registry.PushAsync("team/moved", "v1", File.ReadAllBytes(cluster.Modules.PathOf(url)));
        var first = await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [registry.HostPort] });
        await cluster.CreateAsync(Cluster.Plugin("moved", $"oci://{registry.HostPort}/team/moved:v1", config: new JsonObject { ["header"] = "x-old" }));
        var fromOci = await cluster.WaitForConditionAsync("moved", ConditionTypes.Ready, ConditionStatus.True);
        Assert.NotNull(fromOci.Status!.Module!.ManifestDigest);
        Assert.True(fromOci.Status.Revisions!.Stable!.Spec!.ContainsKey("pluginConfig"));

        // pluginConfig removed (null in a merge patch) and the url moved from oci:// to file://.
        await cluster.PatchSpecAsync("moved", new JsonObject { ["url"] = url, ["pluginConfig"] = null });
        await Cluster.EventuallyAsync(async () => (await cluster.GetAsync("moved"))?.Status?.ObservedGeneration == 2, "observedGeneration 2");
        var fromFile = await cluster.WaitForConditionAsync("moved", ConditionTypes.Ready, ConditionStatus.True);
        var stable = fromFile.Status!.Revisions!.Stable!;
        Assert.Null(fromFile.Status.Module!.ManifestDigest);
        Assert.Equal(url, fromFile.Status.Module.Url);
        Assert.False(stable.Spec!.ContainsKey("pluginConfig"), $"the stable spec still has pluginConfig: {stable.Spec.ToJsonString()}");
        Assert.Equal(first.Desired.Get("default/moved")!.Revision, stable.Revision);
        await first.DisposeAsync();

        // Broken while no operator runs: the new one can only restore the stable revision from status.
        await cluster.PatchSpecAsync("moved", new JsonObject { ["sha256"] = new string('b', 64) });
        var second = await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [registry.HostPort] });
        var stalled = await cluster.WaitForConditionAsync("moved", ConditionTypes.Stalled, ConditionStatus.True);

        Assert.Contains($"revision {stable.Revision} stays in effect", stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!.Message, StringComparison.Ordinal);
        var restored = second.Desired.Get("default/moved");
        Assert.NotNull(restored);
        Assert.Equal(stable.Revision, restored.Revision);
        Assert.Null(restored.Spec.PluginConfig);
        Assert.Equal($"sha256:{sha}", restored.ModuleDigest);
    }
}
