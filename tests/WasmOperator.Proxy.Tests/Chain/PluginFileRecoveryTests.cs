using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using WasmOperator.Proxy.Chain;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Chain;

/// <summary>
/// A plugin file that cannot become JSON or a chain never stops the watcher: the set is rejected with the
/// reason, the old chain serves, later files still load; and a rejected set is retried, and module files
/// are watched, so a module written after its YAML, or rebuilt in place, loads; so is a first set with plugins that did not load.
/// </summary>
public sealed class PluginFileRecoveryTests
{
    private static string Version(string v) => Yaml(Plugin("version", Example("add_header"), "add_header", v));

    private static string WithConfig(string configLines) =>
        Yaml(Plugin("version", Example("add_header"), "add_header", extra: "pluginConfig:\n" + configLines));

    [Theory]
    [InlineData("nan", "\"nan\"")]
    [InlineData("NaN", "\"NaN\"")]
    [InlineData("infinity", "\"infinity\"")]
    [InlineData("-Infinity", "\"-Infinity\"")]
    [InlineData("1e400", "\"1e400\"")]
    [InlineData(" 12", "12")]
    [InlineData("-2.5e3", "-2500")]
    [InlineData(".5", "0.5")]
    public void A_plain_scalar_is_a_json_number_only_when_yaml_reads_it_as_a_finite_number(string value, string json)
    {
        var spec = Assert.Single(PluginFileParser.Parse($"plugins:\n- name: a\n  url: file:///x.wasm\n  pluginConfig:\n    ratio: {value}\n", "t"));
        Assert.Equal($$"""{"ratio":{{json}}}""", spec.PluginConfig);
    }

    [Theory]
    [InlineData("pluginConfig:\n    ratio: .nan\n", "plugins[0].pluginConfig.ratio (line 5): '.nan' is not a valid JSON number")]
    [InlineData("pluginConfig:\n    list: [1, -.inf]\n", "plugins[0].pluginConfig.list[1] (line 5): '-.inf' is not a valid JSON number")]
    [InlineData("pluginConfig:\n    ? [a, b]\n    : 1\n", "plugins[0].pluginConfig (line 5): a mapping key must be a scalar")]
    [InlineData("pluginConfig:\n    outer: {{x: 1}: 2}\n", "plugins[0].pluginConfig.outer (line 5): a mapping key must be a scalar")]
    [InlineData("? {x: 1}\n  : 2\n", "plugins[0] (line 4): a mapping key must be a scalar")]
    [InlineData("limits:\n    ? [a]\n    : 1\n", "plugins[0].limits (line 5): a mapping key must be a scalar")]
    [InlineData("match:\n  - ? [a]\n    : 1\n", "plugins[0].match[0] (line 5): a mapping key must be a scalar")]
    [InlineData("vmConfig:\n    env:\n    - ? [a]\n      : 1\n", "plugins[0].vmConfig.env[0] (line 6): a mapping key must be a scalar")]
    [InlineData("limits:\n    maxCallDuration: 1e400ms\n", "plugins[0].limits.maxCallDuration: duration out of range")]
    [InlineData("limits:\n    maxCallDuration: 1e300s\n", "plugins[0].limits.maxCallDuration: duration out of range")]
    public void A_value_with_no_json_or_chain_form_is_a_plugin_file_error_naming_the_field(string extra, string expected)
    {
        var yaml = "plugins:\n- name: a\n  url: file:///x.wasm\n  " + extra;
        var error = Assert.Throws<PluginFileException>(() => PluginFileParser.Parse(yaml, "plugins.yaml"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plugin_config_with_nan_or_a_non_scalar_key_is_rejected_or_kept_as_a_string_and_the_watcher_keeps_reloading()
    {
        await using var proxy = await ProxyHarness.StartAsync(Version("v1"));
        Assert.Equal("v1", await HelloAsync(proxy));

        // YAML's NaN has no JSON number form: rejected, v1 keeps serving.
        await proxy.WritePluginsAsync(WithConfig("    ratio: .nan\n"));
        await WaitForErrorAsync(proxy, "pluginConfig.ratio (line 6): '.nan' is not a valid JSON number");
        Assert.Equal("v1", await HelloAsync(proxy));

        // A key that is a list: rejected, v1 keeps serving.
        await proxy.WritePluginsAsync(WithConfig("    ? [a, b]\n    : 1\n"));
        await WaitForErrorAsync(proxy, "pluginConfig (line 6): a mapping key must be a scalar");
        Assert.Equal("v1", await HelloAsync(proxy));
        Assert.Equal(1, proxy.Server.Chains.Current!.Revision);

        // A plain nan is a YAML string: the set loads with it as a JSON string (add_header refuses a number as its value).
        await proxy.WritePluginsAsync(WithConfig("    value: nan\n"));
        await ProxyHarness.EventuallyAsync(async () => await HelloAsync(proxy) == "nan", "the config with value \"nan\" serves");

        // And later valid files still load.
        await proxy.WritePluginsAsync(Version("v3"));
        await ProxyHarness.EventuallyAsync(async () => await HelloAsync(proxy) == "v3", "v3 serves after the rejected files");
    }

    [Fact]
    public async Task A_plugin_file_that_fails_to_convert_at_startup_is_reported_and_the_proxy_runs_until_a_valid_file_loads()
    {
        await using var proxy = await ProxyHarness.StartAsync(WithConfig("    ? {x: 1}\n    : 1\n    ratio: infinity\n"));
        Assert.Contains((await LoadErrorsAsync(proxy)), r => r.Contains("a mapping key must be a scalar", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await proxy.GetAsync("/")).Response.StatusCode);

        await proxy.WritePluginsAsync(Version("v2"));
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.GetAsync("/")).Response.StatusCode == HttpStatusCode.OK, "the proxy serves once the file is valid");
        Assert.Equal("v2", await HelloAsync(proxy));
    }

    [Fact]
    public async Task An_unexpected_exception_while_loading_rejects_the_set_and_the_watcher_keeps_reloading()
    {
        await using var proxy = await ProxyHarness.StartAsync(Version("v1"));

        // A NUL in the module path: File.ReadAllBytes throws an ArgumentException, no I/O error.
        await proxy.WritePluginsAsync(Yaml(Plugin("version", "/tmp/a%00b.wasm", "add_header", "v2")));
        await WaitForErrorAsync(proxy, "unexpected ArgumentException while loading the plugin set");
        Assert.Equal("v1", await HelloAsync(proxy));

        await proxy.WritePluginsAsync(Version("v3"));
        await ProxyHarness.EventuallyAsync(async () => await HelloAsync(proxy) == "v3", "v3 serves after the rejected file");
    }

    [Fact]
    public async Task A_file_naming_a_module_not_written_yet_loads_when_the_module_appears_without_touching_the_yaml()
    {
        await using var proxy = await ProxyHarness.StartAsync(Version("v1"));
        var module = Path.Combine(proxy.Directory, "later", "plugin.wasm");
        await proxy.WritePluginsAsync(Yaml(Plugin("version", module, "add_header", "v2")));

        await WaitForErrorAsync(proxy, module);
        Assert.Equal("v1", await HelloAsync(proxy));
        // Retried on every poll (100 ms here) but reported once while the reason stays the same.
        await Task.Delay(1000);
        Assert.Single(proxy.Logs.Lines, l => l.Contains("rejected", StringComparison.Ordinal) && l.Contains(module, StringComparison.Ordinal));
        Assert.Single(await LoadErrorsAsync(proxy), r => r.Contains(module, StringComparison.Ordinal));

        Directory.CreateDirectory(Path.GetDirectoryName(module)!);
        File.Copy(Example("add_header"), module);
        await ProxyHarness.EventuallyAsync(async () => await HelloAsync(proxy) == "v2", "v2 serves once its module exists");
    }

    [Fact]
    public async Task A_first_set_with_a_plugin_that_did_not_load_retries_it_until_it_loads_keeping_the_plugins_that_run()
    {
        // A module unreadable at first and fixed later with its size and write time as they were: what a chmod does
        // (as root here, a permission cannot make it unreadable). Only its first byte is wrong: not a wasm module.
        var directory = Directory.CreateTempSubdirectory("proxy-module-").FullName;
        try
        {
            var module = Path.Combine(directory, "deny.wasm");
            var bytes = await File.ReadAllBytesAsync(Wat("deny_admin_path"));
            var written = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);
            await File.WriteAllBytesAsync(module, [(byte)(bytes[0] ^ 0xff), .. bytes.AsSpan(1)]);
            File.SetLastWriteTimeUtc(module, written);
            await using var proxy = await ProxyHarness.StartAsync(Yaml(
                Plugin("deny", module, "deny", extra: "failStrategy: FAIL_CLOSE\nphase: AUTHZ"),
                Plugin("version", Example("add_header"), "add_header", "v1")));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await proxy.GetAsync("/")).Response.StatusCode);
            Assert.Contains(await LoadErrorsAsync(proxy), r => r.Contains(module, StringComparison.Ordinal));
            var running = proxy.Server.Chains.Current!.Entries.Single(e => e.Spec.Name == "version").Loaded;

            // Retried meanwhile, quietly: the same failure is neither logged as a rejection nor recorded again.
            await Task.Delay(1000);
            Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains(" rejected: ", StringComparison.Ordinal));
            Assert.Single(await LoadErrorsAsync(proxy));

            await File.WriteAllBytesAsync(module, bytes);
            File.SetLastWriteTimeUtc(module, written);
            await ProxyHarness.EventuallyAsync(
                async () => (await proxy.GetAsync("/admin")).Response.StatusCode == HttpStatusCode.Forbidden, "the fixed module loads without touching the YAML");
            Assert.Equal("v1", await HelloAsync(proxy));
            Assert.Empty(await LoadErrorsAsync(proxy));
            // Only the plugin that failed loaded again: the one that ran kept its VMs.
            Assert.Same(running, proxy.Server.Chains.Current!.Entries.Single(e => e.Spec.Name == "version").Loaded);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_first_set_with_a_plugin_that_did_not_load_logs_an_error_naming_it_and_the_reason_and_counts_it_in_the_applied_line()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(
            Plugin("fixme", Wat("configure_fails"), "", extra: "failStrategy: FAIL_OPEN"),
            Plugin("version", Example("add_header"), "add_header", "v1")));

        // It was logged only as "applied: 2 plugin(s) from ..., 0 of them kept running", at information.
        Assert.Contains(proxy.Logs.Lines, l => l.Contains("revision 1 applied: 2 plugin(s)", StringComparison.Ordinal) && l.EndsWith(", 1 did not load", StringComparison.Ordinal));
        var error = Assert.Single(proxy.Logs.Lines, l => l.StartsWith("Error ", StringComparison.Ordinal));
        Assert.Contains("plugin default/fixme (file://" + Wat("configure_fails") + "): ", error, StringComparison.Ordinal);
        Assert.Contains("proxy_on_configure rejected the configuration", error, StringComparison.Ordinal);
        Assert.Contains("failStrategy FAIL_OPEN", error, StringComparison.Ordinal);
        Assert.Equal("v1", await HelloAsync(proxy));

        // Retried meanwhile and failing the same way: said once, not on every retry.
        await Task.Delay(1000);
        Assert.Single(proxy.Logs.Lines, l => l.StartsWith("Error ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rebuilding_a_loaded_module_in_place_reloads_it()
    {
        var directory = Path.Combine(Path.GetTempPath(), "proxy-module-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            var module = Path.Combine(directory, "plugin.wasm");
            File.Copy(Example("add_header"), module);
            await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("version", module, "add_header", "v1")));
            Assert.Equal("v1", await HelloAsync(proxy));
            var revision = proxy.Server.Chains.Current!.Revision;

            // Overwrite the same file (same path and inode) with another module: header_edits answers 201.
            await using (var stream = new FileStream(module, FileMode.Open, FileAccess.Write))
            {
                var bytes = await File.ReadAllBytesAsync(Wat("header_edits"));
                stream.SetLength(0);
                await stream.WriteAsync(bytes);
            }

            await ProxyHarness.EventuallyAsync(
                async () => (await proxy.GetAsync("/")).Response.StatusCode == HttpStatusCode.Created, "the rebuilt module serves");
            var (response, _) = await proxy.GetAsync("/");
            Assert.False(response.Headers.Contains("hello"));
            Assert.True(proxy.Server.Chains.Current!.Revision > revision);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_module_mounted_from_a_config_map_reloads_when_kubelet_swaps_in_a_new_one()
    {
        // Only the module changes here, not the YAML.
        var directory = Directory.CreateTempSubdirectory("proxy-configmap-").FullName;
        try
        {
            var module = MountConfigMap(directory, await File.ReadAllBytesAsync(Example("add_header")));
            await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("version", module, "add_header", "v1")));
            Assert.Equal("v1", await HelloAsync(proxy));

            PublishConfigMap(directory, 2, await File.ReadAllBytesAsync(Wat("header_edits")));

            // The stamp of the link itself never changed, so this waited forever before.
            await ProxyHarness.EventuallyAsync(
                async () => (await proxy.GetAsync("/")).Response.StatusCode == HttpStatusCode.Created, "the new module serves");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_config_map_module_swapped_for_one_of_the_same_size_and_write_time_reloads()
    {
        // A ConfigMap from the same build, or files unpacked with their times kept: the new module has the old one's
        // size and write time, and only the directory ..data leads to is new.
        var (first, second) = SameSizeModules();
        var written = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var directory = Directory.CreateTempSubdirectory("proxy-configmap-").FullName;
        try
        {
            var module = MountConfigMap(directory, first, written);
            await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("version", module, "add_header", "v1")));
            Assert.Equal(DigestOf(first), ServingDigest(proxy));

            PublishConfigMap(directory, 2, second, written);

            await ProxyHarness.EventuallyAsync(() => Task.FromResult(ServingDigest(proxy) == DigestOf(second)), "the swapped-in module serves");
            Assert.Equal("v1", await HelloAsync(proxy));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void A_module_stamp_follows_every_link_so_a_config_map_swap_changes_it_at_the_next_poll()
    {
        // The key's link leads through ..data, a link to a directory: resolving only the key's own link stopped at
        // ..data/plugin.wasm, the same path after every swap. Its bytes would tell too, but only every tenth poll.
        var (first, _) = SameSizeModules();
        var written = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var directory = Directory.CreateTempSubdirectory("proxy-configmap-").FullName;
        try
        {
            var module = MountConfigMap(directory, first, written);
            var before = ModuleStamp.Of(module);

            PublishConfigMap(directory, 2, first, written);
            var after = ModuleStamp.Of(module);

            Assert.Equal(Path.Combine(directory, "..2026_12_06_1", "plugin.wasm"), before.Target);
            Assert.Equal(Path.Combine(directory, "..2026_12_06_2", "plugin.wasm"), after.Target);
            Assert.Equal((before.Length, before.LastWriteUtc), (after.Length, after.LastWriteUtc));
            Assert.NotEqual(before, after);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_module_replaced_by_one_of_the_same_size_and_write_time_reloads(bool renamedOver)
    {
        // What cp -p, tar -x, rsync -t or an image layer leaves: a stat of the file sees nothing change.
        var (first, second) = SameSizeModules();
        var written = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var directory = Directory.CreateTempSubdirectory("proxy-module-").FullName;
        try
        {
            var module = Path.Combine(directory, "plugin.wasm");
            await File.WriteAllBytesAsync(module, first);
            File.SetLastWriteTimeUtc(module, written);
            await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("version", module, "add_header", "v1")));
            Assert.Equal(DigestOf(first), ServingDigest(proxy));

            var target = renamedOver ? module + ".tmp" : module;
            await File.WriteAllBytesAsync(target, second);
            File.SetLastWriteTimeUtc(target, written);
            if (renamedOver)
            {
                File.Move(target, module, overwrite: true);
            }

            await ProxyHarness.EventuallyAsync(() => Task.FromResult(ServingDigest(proxy) == DigestOf(second)), "the new module serves");
            Assert.Equal("v1", await HelloAsync(proxy));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>A ConfigMap volume in <paramref name="directory"/> whose key plugin.wasm holds <paramref name="module"/>; returns the key's path.</summary>
    private static string MountConfigMap(string directory, byte[] module, DateTime? written = null)
    {
        PublishConfigMap(directory, 1, module, written);
        var key = Path.Combine(directory, "plugin.wasm");
        File.CreateSymbolicLink(key, Path.Combine("..data", "plugin.wasm"));
        return key;
    }

    /// <summary>
    /// kubelet's layout for a ConfigMap volume: each key is a symlink into <c>..data</c>, itself a symlink to a
    /// timestamped directory that an update replaces by rename.
    /// </summary>
    private static void PublishConfigMap(string directory, int generation, byte[] module, DateTime? written = null)
    {
        var version = $"..2026_12_06_{generation}";
        var file = Path.Combine(directory, version, "plugin.wasm");
        Directory.CreateDirectory(Path.Combine(directory, version));
        File.WriteAllBytes(file, module);
        if (written is { } time)
        {
            File.SetLastWriteTimeUtc(file, time);
        }

        var link = Path.Combine(directory, "..data_tmp");
        File.CreateSymbolicLink(link, version);
        // rename(2) over the old link, as kubelet does (File.Move refuses a link to a directory).
        using var rename = System.Diagnostics.Process.Start("mv", ["-T", link, Path.Combine(directory, "..data")])!;
        rename.WaitForExit();
        Assert.Equal(0, rename.ExitCode);
    }

    /// <summary>add_header with one of two custom sections of the same size appended: two modules, one size, one behaviour.</summary>
    private static (byte[] First, byte[] Second) SameSizeModules()
    {
        var bytes = File.ReadAllBytes(Example("add_header"));
        // Section id 0 (custom), 5 bytes: a 4-byte name.
        return ([.. bytes, 0, 5, 4, .. "abcd"u8], [.. bytes, 0, 5, 4, .. "wxyz"u8]);
    }

    private static string DigestOf(byte[] module) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(module));

    private static string? ServingDigest(ProxyHarness proxy) => proxy.Server.Chains.Current?.Entries[0].Plugin?.Module.Digest;

    private static async Task<string?> HelloAsync(ProxyHarness proxy)
    {
        var (response, _) = await proxy.GetAsync("/");
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return response.Headers.TryGetValues("hello", out var values) ? string.Join(",", values) : null;
    }

    private static async Task<List<string>> LoadErrorsAsync(ProxyHarness proxy)
    {
        using var dump = JsonDocument.Parse(await proxy.Admin.GetStringAsync("/config_dump"));
        return [.. dump.RootElement.GetProperty("loadErrors").EnumerateArray().Select(e => e.GetProperty("reason").GetString() ?? "")];
    }

    private static Task WaitForErrorAsync(ProxyHarness proxy, string text) =>
        ProxyHarness.EventuallyAsync(
            async () => (await LoadErrorsAsync(proxy)).Any(r => r.Contains(text, StringComparison.Ordinal)), "/config_dump reports: " + text);
}
