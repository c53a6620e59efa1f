using System.Text.Json.Nodes;
using k8s;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class CanaryTests
{
    [Fact]
    public async Task Canary_steps_are_not_run_yet_so_a_Ready_plugin_says_its_revision_applies_at_once_with_a_Warning_event_and_is_not_Stalled()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("canary");
        var op = await cluster.StartOperatorAsync();
        var plugin = Cluster.Plugin("stepped", url, sha);
        plugin["spec"]!["rollout"] = new JsonObject
        {
            ["canary"] = new JsonObject { ["steps"] = new JsonArray(new JsonObject { ["setWeight"] = 10 }, new JsonObject { ["pause"] = new JsonObject() }) },
        };

        await cluster.CreateAsync(plugin);
        var ready = await cluster.WaitForConditionAsync("stepped", ConditionTypes.Ready, ConditionStatus.True);

        var revision = op.Desired.Get("default/stepped")!.Revision;
        var expected = $"spec.rollout.canary is not supported yet: revision {revision} applies to every selected workload at once and its 2 steps are skipped";
        Assert.Contains(expected, ready.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!.Message, StringComparison.Ordinal);
        Assert.Equal(ConditionStatus.False, ready.Status.Conditions.Find(c => c.Type == ConditionTypes.Stalled)!.Status);
        Assert.Equal(revision, ready.Status.Revisions!.Stable!.Revision);
        await Cluster.EventuallyAsync(async () => (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items
            .Any(e => e.Reason == ConditionReasons.Unsupported && e.Type == "Warning" && e.InvolvedObject.Name == "stepped" && e.Message.Contains(expected, StringComparison.Ordinal)),
            "a Warning Unsupported event for the skipped canary steps");
    }

    [Fact]
    public async Task A_canary_without_steps_means_all_at_once_and_gets_no_note()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("canary");
        await cluster.StartOperatorAsync();
        var plugin = Cluster.Plugin("unstepped", url, sha);
        plugin["spec"]!["rollout"] = new JsonObject { ["canary"] = new JsonObject() };

        await cluster.CreateAsync(plugin);
        var ready = await cluster.WaitForConditionAsync("unstepped", ConditionTypes.Ready, ConditionStatus.True);

        Assert.DoesNotContain("rollout.canary", ready.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!.Message, StringComparison.Ordinal);
    }
}
