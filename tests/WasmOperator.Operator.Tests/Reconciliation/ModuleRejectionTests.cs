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
}
