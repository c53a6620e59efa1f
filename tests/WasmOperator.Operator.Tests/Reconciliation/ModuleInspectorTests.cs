using k8s;
using System.Text.Json.Nodes;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Modules;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Tests.Support;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class ModuleInspectorTests
{
    [Theory]
    // on_configure accepts only a non-empty configuration, as SDK plugins that need one do.
    [InlineData("needs-config", "(i32.gt_u (local.get 1) (i32.const 0))", """{"header":"x-hello"}""", true)]
    [InlineData("needs-config", "(i32.gt_u (local.get 1) (i32.const 0))", null, false)]
    // on_configure accepts only an empty one: a spec that gives one must not be reported Ready.
    [InlineData("refuses-config", "(i32.eqz (local.get 1))", """{"header":"x-hello"}""", false)]
    // exactly the 20 bytes of the compact JSON {"header":"x-hello"}, as a proxy delivers it.
    [InlineData("exact-config", "(i32.eq (local.get 1) (i32.const 20))", """{"header":"x-hello"}""", true)]
    public async Task The_load_check_starts_the_plugin_with_spec_pluginConfig_as_a_proxy_delivers_it(string name, string configure, string? config, bool ready)
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.Wat($"{name}.wasm", Module(configure: configure));
        var op = await cluster.StartOperatorAsync();

        await cluster.CreateAsync(Cluster.Plugin("cfg", url, sha, config: config is null ? null : JsonNode.Parse(config)!.AsObject()));
        var plugin = await cluster.WaitForConditionAsync("cfg", ready ? ConditionTypes.Ready : ConditionTypes.Stalled, ConditionStatus.True);

        var condition = plugin.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!;
        Assert.Equal(ready ? ConditionStatus.True : ConditionStatus.False, condition.Status);
        if (!ready)
        {
            Assert.Equal(ConditionReasons.AbiRejected, condition.Reason);
            Assert.Contains("rejected spec.pluginConfig", condition.Message, StringComparison.Ordinal);
            Assert.Contains(config ?? "(unset: an empty configuration)", condition.Message, StringComparison.Ordinal);
            Assert.Null(op.Desired.Get("default/cfg"));
        }
    }

    [Theory]
    // 100 MiB of initial memory under the default limit of 64 MiB: no proxy can load it.
    [InlineData(1600, null, false)]
    // 281 MiB under maxMemoryBytes 512 MiB: a proxy loads it (the runtime's own default is 256 MiB).
    [InlineData(4500, 536870912L, true)]
    public async Task The_load_check_applies_spec_limits_maxMemoryBytes(int pages, long? maxMemoryBytes, bool ready)
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.Wat($"mem{pages}.wasm", Module(pages: pages));
        var op = await cluster.StartOperatorAsync();
        var plugin = Cluster.Plugin("mem", url, sha);
        if (maxMemoryBytes is { } max)
        {
            plugin["spec"]!["limits"] = new JsonObject { ["maxMemoryBytes"] = max };
        }

        await cluster.CreateAsync(plugin);
        var result = await cluster.WaitForConditionAsync("mem", ready ? ConditionTypes.Ready : ConditionTypes.Stalled, ConditionStatus.True);

        var condition = result.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!;
        Assert.Equal(ready ? ConditionStatus.True : ConditionStatus.False, condition.Status);
        if (!ready)
        {
            Assert.Equal(ConditionReasons.AbiRejected, condition.Reason);
            Assert.Contains("maxMemoryBytes 67108864", condition.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("module-check", condition.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_load_check_applies_spec_limits_maxCallDuration()
    {
        await using var cluster = await Cluster.StartAsync();
        // on_vm_start never returns: how long it may run is what the message names (how fast a finite loop is
        // depends on the machine, so none is used).
        var (url, sha) = cluster.Modules.Wat("slow-start.wasm", Module(vmStart: """
            (loop $l (br $l))
            (i32.const 1)
            """));
        var op = await cluster.StartOperatorAsync();

        await cluster.CreateAsync(Cluster.Plugin("slow", url, sha));
        var plugin = await cluster.WaitForConditionAsync("slow", ConditionTypes.Stalled, ConditionStatus.True);

        Assert.Contains("maxCallDuration 100 ms", plugin.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_module_importing_a_function_the_host_does_not_provide_is_Ready_with_the_import_named_and_a_Warning()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.Wat("unknown-import.wasm", """
            (module
              (import "env" "proxy_does_not_exist" (func $x (param i32) (result i32)))
              (memory (export "memory") 2)
              (func (export "proxy_abi_version_0_2_1"))
              (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
              (func (export "proxy_on_context_create") (param i32 i32))
              (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
              (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
              (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (call $x (i32.const 0)))
              (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
              (func (export "proxy_on_delete") (param i32)))
            """);
        var op = await cluster.StartOperatorAsync();

        await cluster.CreateAsync(Cluster.Plugin("unknown", url, sha));
        var plugin = await cluster.WaitForConditionAsync("unknown", ConditionTypes.Ready, ConditionStatus.True);

        var verified = plugin.Status!.Conditions!.Find(c => c.Type == ConditionTypes.ModuleVerified)!;
        Assert.Equal(ConditionStatus.True, verified.Status);
        Assert.Contains("imports the host does not provide: env.proxy_does_not_exist (calls to them trap)", verified.Message, StringComparison.Ordinal);
        Assert.NotNull(op.Desired.Get("default/unknown"));
        await Cluster.EventuallyAsync(async () => (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items
            .Any(e => e.Reason == WasmPluginReconciler.MissingImportsEvent && e.Type == "Warning" && e.Message.Contains("env.proxy_does_not_exist", StringComparison.Ordinal)),
            "a Warning MissingImports event naming env.proxy_does_not_exist");
    }

    [Fact]
    public async Task A_module_using_only_what_the_host_provides_gets_no_import_note()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("clean");
        var op = await cluster.StartOperatorAsync();

        await cluster.CreateAsync(Cluster.Plugin("clean", url, sha));
        var plugin = await cluster.WaitForConditionAsync("clean", ConditionTypes.Ready, ConditionStatus.True);

        Assert.DoesNotContain("imports", plugin.Status!.Conditions!.Find(c => c.Type == ConditionTypes.ModuleVerified)!.Message, StringComparison.Ordinal);
        await Cluster.EventuallyAsync(async () => (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items.Any(e => e.Reason == "RevisionReady"), "the RevisionReady event");
        Assert.DoesNotContain((await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items, e => e.Reason == WasmPluginReconciler.MissingImportsEvent);
    }

    [Fact]
    public async Task A_pluginName_the_module_does_not_register_is_one_sentence_naming_the_field_and_the_value_without_a_trace()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.Example("add_header");
        var op = await cluster.StartOperatorAsync();
        var plugin = Cluster.Plugin("misnamed", url, sha);
        plugin["spec"]!["pluginName"] = "add-header";

        await cluster.CreateAsync(plugin);
        var stalled = await cluster.WaitForConditionAsync("misnamed", ConditionTypes.Stalled, ConditionStatus.True);

        var condition = stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!;
        Assert.Equal(ConditionReasons.AbiRejected, condition.Reason);
        Assert.Equal(
            $"module sha256:{sha} could not create a root context for spec.pluginName \"add-header\" (proxy_on_context_create failed: proc_exit(255); "
            + "the plugin logged \"Missing root context factory for root id: add-header\"); set spec.pluginName to a root id the module registers "
            + "(the operator cannot list them: a module registers them when it runs, e.g. with registerRootContext(…, \"<id>\") in AssemblyScript)",
            condition.Message);
        Assert.Null(op.Desired.Get("default/misnamed"));
        await Cluster.EventuallyAsync(async () => (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items
            .Any(e => e.Reason == ConditionReasons.AbiRejected && e.Message == condition.Message),
            "a Warning AbiRejected event with the same message");
    }

    [Fact]
    public async Task A_trap_while_the_plugin_starts_is_named_by_its_callback_on_one_line_without_the_wasm_backtrace()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.Wat("trap-start.wasm", Module(vmStart: "(unreachable)"));
        await cluster.StartOperatorAsync();

        await cluster.CreateAsync(Cluster.Plugin("trap", url, sha));
        var stalled = await cluster.WaitForConditionAsync("trap", ConditionTypes.Stalled, ConditionStatus.True);

        var message = stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!.Message;
        Assert.StartsWith($"module sha256:{sha} did not start with spec.pluginName \"root\" under spec.limits", message, StringComparison.Ordinal);
        Assert.Contains("proxy_on_vm_start failed:", message, StringComparison.Ordinal);
        Assert.DoesNotContain("backtrace", message, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plugin_that_does_not_start_is_not_reported_as_refusing_its_configuration_whatever_its_root_id_says()
    {
        using var modules = new TestModules();
        // on_vm_start says no; the root id is one the API admits and reads like the runtime's configure refusal.
        var (url, sha) = modules.Wat("no-start.wasm", Module(vmStart: "(i32.const 0)"));
        using var runtime = new ProxyWasmRuntime();
        var spec = new WasmPluginSpec { Url = url, PluginName = "proxy_on_configure rejected", PluginConfig = new JsonObject { ["n"] = 1 } };

        var (_, failure) = await new ModuleInspector(runtime).InspectAsync("default/no-start", Fetched(modules, url, sha), spec, default);

        Assert.Equal(ConditionReasons.AbiRejected, failure!.Reason);
        Assert.Contains("did not start with spec.pluginName \"proxy_on_configure rejected\"", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("rejected spec.pluginConfig", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_load_check_keeps_one_verdict_per_plugin_however_often_its_configuration_changes()
    {
        using var modules = new TestModules();
        var (url, sha) = modules.ProxyWasm("verdicts");
        using var runtime = new ProxyWasmRuntime();
        var inspector = new ModuleInspector(runtime);
        var module = Fetched(modules, url, sha);
        WasmPluginSpec Spec(int n) => new() { Url = url, PluginName = "root", PluginConfig = new JsonObject { ["n"] = n } };

        for (var n = 0; n < 20; n++)
        {
            var (_, failure) = await inspector.InspectAsync("default/a", module, Spec(n), default);
            Assert.Null(failure);
        }

        var afterEdits = inspector.KeptReports;
        // A second plugin under the last configuration shares its verdict; one under another adds one.
        await inspector.InspectAsync("default/b", module, Spec(19), default);
        var shared = inspector.KeptReports;
        await inspector.InspectAsync("default/c", module, Spec(100), default);
        var third = inspector.KeptReports;
        inspector.Forget("default/a");
        var afterA = inspector.KeptReports;
        inspector.Forget("default/b");
        inspector.Forget("default/c");

        Assert.Equal(1, afterEdits);
        Assert.Equal(1, shared);
        Assert.Equal(2, third);
        Assert.Equal(2, afterA);
        Assert.Equal(0, inspector.KeptReports);
    }

    [Fact]
    public async Task A_deleted_plugin_leaves_no_load_check_verdict_behind()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("forgotten");
        var op = await cluster.StartOperatorAsync();
        await cluster.CreateAsync(Cluster.Plugin("edited", url, sha, config: new JsonObject { ["n"] = 0 }));
        await cluster.WaitForConditionAsync("edited", ConditionTypes.Ready, ConditionStatus.True);
        for (var n = 1; n <= 3; n++)
        {
            await cluster.PatchSpecAsync("edited", new JsonObject { ["pluginConfig"] = new JsonObject { ["n"] = n } });
            await cluster.WaitForConditionAsync("edited", ConditionTypes.Ready, ConditionStatus.True);
        }

        var afterEdits = op.Host.Inspector.KeptReports;
        await cluster.DeleteAsync("edited");
        await Cluster.EventuallyAsync(async () => await cluster.GetAsync("edited") is null, "the plugin to be finalized and gone");

        Assert.Equal(1, afterEdits);
        Assert.Equal(0, op.Host.Inspector.KeptReports);
    }

    [Theory]
    [InlineData("100ms", 100)]
    [InlineData("1.5s", 1500)]
    [InlineData("1m30s", 90_000)]
    [InlineData("2h", 7_200_000)]
    public void maxCallDuration_is_read_as_a_Go_duration(string text, double ms)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(ms), ProxyLoadOptions.ParseDuration(text));
    }

    [Theory]
    [InlineData("0s")]
    [InlineData("1m30")]
    [InlineData("fast")]
    public void A_maxCallDuration_that_is_no_positive_duration_is_named_not_replaced_by_the_default(string text)
    {
        var error = Assert.Throws<ArgumentException>(() => ProxyLoadOptions.ParseDuration(text));

        Assert.StartsWith($"spec.limits.maxCallDuration: '{text}' is no positive duration", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_check_options_follow_the_spec_and_its_defaults()
    {
        var bare = ProxyLoadOptions.For(new WasmPluginSpec { Url = "oci://r/p:v1" });
        var spec = new WasmPluginSpec
        {
            Url = "oci://r/p:v1",
            PluginName = "root",
            PluginConfig = new JsonObject { ["header"] = "x-hello", ["n"] = 1 },
            VmConfig = new VmConfig { Env = [new EnvVar { Name = "MODE", Value = "strict" }, new EnvVar { Name = "HOME", ValueFrom = EnvValueSource.Host }] },
            Limits = new SandboxLimits { MaxMemoryBytes = 512L << 20, MaxCallDuration = "2s" },
        };
        var options = ProxyLoadOptions.For(spec);

        Assert.Empty(bare.Configuration);
        Assert.Equal(64L << 20, bare.MemoryLimitBytes);
        Assert.Equal(TimeSpan.FromMilliseconds(100), bare.CallDeadline);
        Assert.Equal("""{"header":"x-hello","n":1}""", System.Text.Encoding.UTF8.GetString(options.Configuration));
        Assert.Equal("root", options.RootId);
        Assert.Equal("strict", options.Environment["MODE"]);
        Assert.Equal("", options.Environment["HOME"]);
        Assert.Equal(512L << 20, options.MemoryLimitBytes);
        Assert.Equal(TimeSpan.FromSeconds(2), options.CallDeadline);
        Assert.NotEqual(ProxyLoadOptions.Fingerprint(bare), ProxyLoadOptions.Fingerprint(options));
        Assert.NotEqual(ProxyLoadOptions.Fingerprint(options), ProxyLoadOptions.Fingerprint(options with { Configuration = "{}"u8.ToArray() }));
        Assert.NotEqual(ProxyLoadOptions.Fingerprint(options), ProxyLoadOptions.Fingerprint(options with { MemoryLimitBytes = 1L << 30 }));
        Assert.Equal(ProxyLoadOptions.Fingerprint(options), ProxyLoadOptions.Fingerprint(ProxyLoadOptions.For(spec)));
    }

    // A module as the fetcher hands it over: here the file the test wrote, which is what the check reads.
    private static FetchedModule Fetched(TestModules modules, string url, string sha) => new()
    {
        Url = url,
        ResolvedRef = url,
        ModuleDigest = $"sha256:{sha}",
        Size = new FileInfo(modules.PathOf(url)).Length,
        Path = modules.PathOf(url),
        Format = ModuleFormat.RawWasm,
        MediaType = "application/wasm",
    };

    private static string Module(string configure = "(i32.const 1)", int pages = 2, string vmStart = "(i32.const 1)") => $$"""
        (module
          (memory (export "memory") {{pages}})
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
          (func (export "proxy_on_context_create") (param i32 i32))
          (func (export "proxy_on_vm_start") (param i32 i32) (result i32) {{vmStart}})
          (func (export "proxy_on_configure") (param i32 i32) (result i32) {{configure}})
          (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
          (func (export "proxy_on_delete") (param i32)))
        """;
}
