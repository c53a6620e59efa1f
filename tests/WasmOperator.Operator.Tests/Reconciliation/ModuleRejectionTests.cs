using System.Text.Json.Nodes;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class ModuleRejectionTests
{
    [Fact]
    public async Task Content_that_is_not_Wasm_stalls_with_NotWasm_not_InvalidUrl_as_the_url_itself_is_fine()
    {
        await using var cluster = await Cluster.StartAsync();
        var page = Path.Combine(cluster.Modules.Root, "page.wasm");
        await File.WriteAllTextAsync(page, "<html>login</html>");
        await cluster.StartOperatorAsync();

        await cluster.CreateAsync(Cluster.Plugin("page", new Uri(page).AbsoluteUri));
        var stalled = await cluster.WaitForConditionAsync("page", ConditionTypes.Stalled, ConditionStatus.True);

        Assert.Equal(ConditionReasons.NotWasm, stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!.Reason);
        Assert.Equal(ConditionStatus.False, stalled.Status.Conditions.Find(c => c.Type == ConditionTypes.ModuleVerified)!.Status);
    }

    [Fact]
    public async Task A_module_over_the_size_limit_stalls_with_ModuleTooLarge_and_names_the_setting_that_limits_it()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, _) = cluster.Modules.ProxyWasm("large", padding: 3 * 1024 * 1024 / 2);
        await cluster.StartOperatorAsync(cluster.Options() with { CacheMaxBytes = 1024 * 1024 });

        await cluster.CreateAsync(Cluster.Plugin("large", url));
        var stalled = await cluster.WaitForConditionAsync("large", ConditionTypes.Stalled, ConditionStatus.True);

        var condition = stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!;
        Assert.Equal(ConditionReasons.ModuleTooLarge, condition.Reason);
        Assert.Contains("limit of 1048576 bytes", condition.Message, StringComparison.Ordinal);
        Assert.Contains("--cache-max-bytes (env WASMOP_CACHE_MAX_BYTES)", condition.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_registry_layer_over_max_module_bytes_stalls_with_ModuleTooLarge_naming_the_setting_and_the_running_revision_stays()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        var (small, sha) = cluster.Modules.ProxyWasm("small");
        var (large, _) = cluster.Modules.ProxyWasm("large", padding: 128 * 1024);
        await registry.PushAsync("team/sized", "v1", File.ReadAllBytes(cluster.Modules.PathOf(small)));
        await registry.PushAsync("team/sized", "v2", File.ReadAllBytes(cluster.Modules.PathOf(large)));
        var op = await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [registry.HostPort], MaxModuleBytes = 64 * 1024 });
        await cluster.CreateAsync(Cluster.Plugin("sized", $"oci://{registry.HostPort}/team/sized:v1"));
        var ready = await cluster.WaitForConditionAsync("sized", ConditionTypes.Ready, ConditionStatus.True);
        var running = op.Desired.Get("default/sized")!.Revision;

        var url = $"oci://{registry.HostPort}/team/sized:v2";
        await cluster.PatchSpecAsync("sized", new JsonObject { ["url"] = url });
        var stalled = await cluster.WaitForConditionAsync("sized", ConditionTypes.Stalled, ConditionStatus.True);

        var condition = stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!;
        Assert.Equal(ConditionReasons.ModuleTooLarge, condition.Reason);
        Assert.Contains(url, condition.Message, StringComparison.Ordinal);
        Assert.Contains("limit of 65536 bytes", condition.Message, StringComparison.Ordinal);
        Assert.Contains("raise the operator's --max-module-bytes (env WASMOP_MAX_MODULE_BYTES)", condition.Message, StringComparison.Ordinal);
        Assert.Contains($"revision {running} stays in effect", condition.Message, StringComparison.Ordinal);
        Assert.Equal(running, op.Desired.Get("default/sized")!.Revision);
        Assert.Equal($"sha256:{sha}", op.Desired.Get("default/sized")!.ModuleDigest);
        Assert.Equal(ready.Status!.Revisions!.Stable!.Revision, stalled.Status.Revisions!.Stable!.Revision);
    }
}
