using System.Net;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using WasmOperator.ProxyWasm.Plugins;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Chain;

/// <summary>
/// A new plugin set keeps the VMs of the plugins it leaves unchanged, as Istio's per-plugin ECDS resources do: their
/// in-VM state survives an edit of another plugin. The counter fixture counts responses in a VM global (one shard).
/// </summary>
public sealed class PluginReuseTests
{
    private static string Counter(string name, string header, string extra = "", string? module = null) =>
        Plugin(name, module ?? Wat("request_counter"), "", header, extra);

    private static string Version(string v) => Plugin("version", Example("add_header"), "add_header", v);

    private static Task<ProxyHarness> StartAsync(string yaml) => ProxyHarness.StartAsync(yaml, o => o.ShardsPerPlugin = 1);

    private static async Task<string?> HeaderAsync(ProxyHarness proxy, string name, string path = "/")
    {
        var (response, _) = await proxy.GetAsync(path);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {response.StatusCode}");
        return response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;
    }

    /// <summary>Writes the plugin file and waits until the watcher applied it.</summary>
    private static async Task ReloadAsync(ProxyHarness proxy, string yaml)
    {
        var revision = proxy.Server.Chains.Current!.Revision;
        await proxy.WritePluginsAsync(yaml);
        await ProxyHarness.EventuallyAsync(
            () => Task.FromResult(proxy.Server.Chains.Current!.Revision > revision || proxy.Server.Chains.LastRejected is not null), "the edited file is applied");
        Assert.Null(proxy.Server.Chains.LastRejected?.Reason);
    }

    /// <summary>The loaded plugin (its VMs) the serving chain runs for <paramref name="name"/>; null if it did not load.</summary>
    private static ProxyWasmPlugin? PluginOf(ProxyHarness proxy, string name) =>
        proxy.Server.Chains.Current!.Entries.Single(e => e.Spec.Name == name).Plugin;

    [Fact]
    public async Task A_plugin_keeps_its_VM_state_when_another_plugin_in_the_file_is_edited()
    {
        await using var proxy = await StartAsync(Yaml(Counter("counted", "x-count"), Version("v1")));
        Assert.Equal("1", await HeaderAsync(proxy, "x-count"));
        Assert.Equal("2", await HeaderAsync(proxy, "x-count"));
        var before = PluginOf(proxy, "counted");

        await ReloadAsync(proxy, Yaml(Counter("counted", "x-count"), Version("v2")));

        var (response, _) = await proxy.GetAsync("/");
        Assert.Equal("v2", response.Headers.GetValues("hello").Single());
        Assert.Equal("3", response.Headers.GetValues("x-count").Single());
        Assert.Same(before, PluginOf(proxy, "counted"));
    }

    [Theory]
    [InlineData("pluginConfig")]
    [InlineData("vmConfig")]
    [InlineData("maxMemoryBytes")]
    [InlineData("maxCallDuration")]
    [InlineData("vmId")]
    [InlineData("module")]
    public async Task A_change_to_what_its_VM_runs_restarts_that_plugin_and_no_other(string field)
    {
        await using var proxy = await StartAsync(Yaml(Counter("edited", "x-edited"), Counter("untouched", "x-untouched")));
        await HeaderAsync(proxy, "x-edited");
        Assert.Equal("2", await HeaderAsync(proxy, "x-untouched"));

        var header = field == "pluginConfig" ? "x-renamed" : "x-edited";
        var edited = field switch
        {
            "pluginConfig" => Counter("edited", "x-renamed"),
            "vmConfig" => Counter("edited", "x-edited", "vmConfig:\n  env:\n  - name: MODE\n    value: strict"),
            "maxMemoryBytes" => Counter("edited", "x-edited", "limits:\n  maxMemoryBytes: 33554432"),
            "maxCallDuration" => Counter("edited", "x-edited", "limits:\n  maxCallDuration: 250ms"),
            "vmId" => Counter("edited", "x-edited", "vmId: shared"),
            "module" => Counter("edited", "x-edited", module: await RebuiltModuleAsync(proxy.Directory)),
            _ => throw new ArgumentOutOfRangeException(nameof(field)),
        };
        await ReloadAsync(proxy, Yaml(edited, Counter("untouched", "x-untouched")));

        var (response, _) = await proxy.GetAsync("/");
        Assert.Equal("1", response.Headers.GetValues(header).Single());
        Assert.Equal("3", response.Headers.GetValues("x-untouched").Single());
    }

    /// <summary>The counter module with a custom section appended: the same code under another digest.</summary>
    private static async Task<string> RebuiltModuleAsync(string directory)
    {
        var path = Path.Combine(directory, "request_counter_v2.wasm");
        byte[] section = [0x00, 0x05, 0x04, (byte)'b', (byte)'u', (byte)'m', (byte)'p'];
        await File.WriteAllBytesAsync(path, [.. await File.ReadAllBytesAsync(Wat("request_counter")), .. section]);
        return path;
    }

    [Theory]
    [InlineData("phase: AUTHZ")]
    [InlineData("priority: 5")]
    [InlineData("failStrategy: FAIL_OPEN")]
    [InlineData("mode: LOG_ONLY")]
    [InlineData("match:\n- mode: SERVER")]
    public async Task A_change_to_its_place_or_handling_in_the_chain_keeps_its_VM(string edit)
    {
        var original = Yaml(Counter("counted", "x-count"), Version("v1"));
        await using var proxy = await StartAsync(original);
        Assert.Equal("1", await HeaderAsync(proxy, "x-count"));
        var before = PluginOf(proxy, "counted");

        await ReloadAsync(proxy, Yaml(Counter("counted", "x-count", edit), Version("v1")));
        await HeaderAsync(proxy, "x-count");
        Assert.Same(before, PluginOf(proxy, "counted"));

        // Back to the original: the request in between (even in LOG_ONLY, where its header is not applied) counted in the same VM.
        await ReloadAsync(proxy, original);
        Assert.Equal("3", await HeaderAsync(proxy, "x-count"));
    }

    [Fact]
    public async Task A_dropped_plugin_is_released_after_the_last_request_on_the_old_chain_and_a_kept_one_is_not()
    {
        await using var proxy = await StartAsync(Yaml(Counter("kept", "x-kept"), Counter("dropped", "x-dropped")));
        var chains = proxy.Server.Chains;
        Assert.Equal("1", await HeaderAsync(proxy, "x-kept"));
        var first = chains.Current!;
        var kept = PluginOf(proxy, "kept")!;
        var dropped = PluginOf(proxy, "dropped")!;
        var slow = proxy.GetAsync("/slow");
        await proxy.Upstream.SlowStarted.Task;

        Assert.Null(await chains.ApplyAsync(PluginFileParser.Parse(Yaml(Counter("kept", "x-kept")), "t"), "t", CancellationToken.None));
        Assert.Same(kept, PluginOf(proxy, "kept"));
        Assert.Equal("2", await HeaderAsync(proxy, "x-kept"));
        // The slow request still runs on the old chain, through the dropped plugin.
        Assert.Equal(1, dropped.HealthyShards);

        proxy.Upstream.ReleaseSlow();
        var (response, _) = await slow;
        Assert.Equal("3", response.Headers.GetValues("x-kept").Single());
        Assert.Equal("2", response.Headers.GetValues("x-dropped").Single());
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(first.Released), "the old chain drains");
        Assert.Equal(0, dropped.HealthyShards);
        Assert.Equal(1, kept.HealthyShards);
        Assert.Equal("4", await HeaderAsync(proxy, "x-kept"));
    }

    [Fact]
    public async Task A_rejected_set_leaves_the_serving_plugins_and_their_state_as_they_were()
    {
        await using var proxy = await StartAsync(Yaml(Counter("kept", "x-kept"), Version("v1")));
        var chains = proxy.Server.Chains;
        Assert.Equal("1", await HeaderAsync(proxy, "x-kept"));
        var kept = PluginOf(proxy, "kept")!;

        // The candidate shares the kept plugin; rejecting it must not release what the serving chain still runs.
        var reason = await chains.ApplyAsync(
            PluginFileParser.Parse(Yaml(Counter("kept", "x-kept"), Version("v2"), Plugin("bad", Wat("configure_fails"), "")), "t"), "t", CancellationToken.None);
        Assert.Contains("default/bad", reason, StringComparison.Ordinal);
        Assert.Equal(1, chains.Current!.Revision);
        Assert.Equal(1, kept.HealthyShards);
        var (response, _) = await proxy.GetAsync("/");
        Assert.Equal("v1", response.Headers.GetValues("hello").Single());
        Assert.Equal("2", response.Headers.GetValues("x-kept").Single());

        // And the next good set still takes it over.
        Assert.Null(await chains.ApplyAsync(PluginFileParser.Parse(Yaml(Counter("kept", "x-kept"), Version("v2")), "t"), "t", CancellationToken.None));
        Assert.Same(kept, PluginOf(proxy, "kept"));
        Assert.Equal("3", await HeaderAsync(proxy, "x-kept"));
    }

    [Fact]
    public async Task A_plugin_that_did_not_load_is_loaded_again_by_the_next_set()
    {
        var late = Path.Combine(Path.GetTempPath(), "late-" + Guid.NewGuid().ToString("N") + ".wasm");
        try
        {
            await using var proxy = await StartAsync(Yaml(Counter("kept", "x-kept"), Counter("late", "x-late", "failStrategy: FAIL_OPEN", late)));
            Assert.Null(PluginOf(proxy, "late"));
            var (failedOpen, _) = await proxy.GetAsync("/");
            Assert.False(failedOpen.Headers.Contains("x-late"));
            Assert.Equal("1", failedOpen.Headers.GetValues("x-kept").Single());
            var kept = PluginOf(proxy, "kept");

            // The module appears: the watcher applies the same file again, and the failed plugin loads this time.
            var revision = proxy.Server.Chains.Current!.Revision;
            File.Copy(Wat("request_counter"), late);
            await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Server.Chains.Current!.Revision > revision), "the set is applied again");

            Assert.NotNull(PluginOf(proxy, "late"));
            var (response, _) = await proxy.GetAsync("/");
            Assert.Equal("1", response.Headers.GetValues("x-late").Single());
            Assert.Equal("2", response.Headers.GetValues("x-kept").Single());
            Assert.Same(kept, PluginOf(proxy, "kept"));
        }
        finally
        {
            File.Delete(late);
        }
    }

    [Fact]
    public async Task A_plugin_whose_VM_crashed_is_loaded_afresh_by_the_next_set_while_the_healthy_ones_are_kept()
    {
        await using var proxy = await StartAsync(Yaml(Plugin("trap", Wat("trap_on_path"), ""), Counter("kept", "x-kept"), Version("v1")));
        var chains = proxy.Server.Chains;
        Assert.Equal("1", await HeaderAsync(proxy, "x-kept"));
        var trapped = PluginOf(proxy, "trap")!;
        var kept = PluginOf(proxy, "kept");
        var (crash, _) = await proxy.GetAsync("/trap");
        Assert.NotEqual(HttpStatusCode.OK, crash.StatusCode);
        Assert.Equal(0, trapped.HealthyShards);

        Assert.Null(await chains.ApplyAsync(PluginFileParser.Parse(Yaml(Plugin("trap", Wat("trap_on_path"), ""), Counter("kept", "x-kept"), Version("v2")), "t"), "t", CancellationToken.None));

        var fresh = PluginOf(proxy, "trap")!;
        Assert.NotSame(trapped, fresh);
        Assert.Equal(1, fresh.HealthyShards);
        Assert.Same(kept, PluginOf(proxy, "kept"));
        Assert.Equal("v2", (await proxy.GetAsync("/")).Response.Headers.GetValues("hello").Single());
    }
}
