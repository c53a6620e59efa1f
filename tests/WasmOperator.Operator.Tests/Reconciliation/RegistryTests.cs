using k8s;
using k8s.Models;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class RegistryTests
{
    [Fact]
    public async Task A_private_module_is_pulled_with_the_secret_from_the_plugins_namespace_once_it_exists()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync(auth: true);
        var (url, sha) = cluster.Modules.ProxyWasm("private");
        var manifest = await registry.PushAsync("team/private", "v1", File.ReadAllBytes(cluster.Modules.PathOf(url)));
        var op = await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [registry.HostPort] });
        var plugin = Cluster.Plugin("private", $"oci://{registry.HostPort}/team/private:v1");
        plugin["spec"]!["imagePullSecret"] = "pull";

        await cluster.CreateAsync(plugin);
        var waiting = await cluster.WaitForConditionAsync("private", ConditionTypes.Reconciling, ConditionStatus.True);
        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "pull" },
            Type = "kubernetes.io/dockerconfigjson",
            Data = new Dictionary<string, byte[]> { [".dockerconfigjson"] = System.Text.Encoding.UTF8.GetBytes(registry.DockerConfigJson()) },
        }, "default");
        var ready = await cluster.WaitForConditionAsync("private", ConditionTypes.Ready, ConditionStatus.True);

        Assert.Equal(ConditionReasons.PullSecretNotFound, waiting.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!.Reason);
        Assert.Contains("default/pull", waiting.Status.Conditions.Find(c => c.Type == ConditionTypes.Ready)!.Message, StringComparison.Ordinal);
        Assert.Equal(manifest, ready.Status!.Module!.ManifestDigest);
        Assert.Equal($"sha256:{sha}", ready.Status.Module.ModuleDigest);
        Assert.Equal($"sha256:{sha}", op.Desired.Get("default/private")!.ModuleDigest);
    }

    [Fact]
    public async Task During_a_registry_outage_the_plugin_is_Reconciling_and_it_becomes_Ready_when_the_registry_returns()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("outage");
        await registry.PushAsync("team/outage", "v1", File.ReadAllBytes(cluster.Modules.PathOf(url)));
        var op = await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [registry.HostPort] });
        await registry.StopAsync();

        await cluster.CreateAsync(Cluster.Plugin("outage", $"oci://{registry.HostPort}/team/outage:v1"));
        var waiting = await cluster.WaitForConditionAsync("outage", ConditionTypes.Reconciling, ConditionStatus.True);
        await registry.StartAsync();
        var ready = await cluster.WaitForConditionAsync("outage", ConditionTypes.Ready, ConditionStatus.True);

        Assert.Equal(ConditionReasons.FetchFailed, waiting.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Reconciling)!.Reason);
        Assert.Equal(ConditionStatus.False, waiting.Status.Conditions.Find(c => c.Type == ConditionTypes.Stalled)!.Status);
        Assert.Equal($"sha256:{sha}", ready.Status!.Module!.ModuleDigest);
        Assert.NotNull(op.Desired.Get("default/outage"));
    }
}
