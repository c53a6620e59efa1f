using System.Text.Json;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Admin;

/// <summary>/config_dump: what serves, and what was last applied and rejected.</summary>
public sealed class ConfigDumpTests
{
    [Fact]
    public async Task A_set_applied_after_a_rejected_one_clears_its_load_error_and_marks_the_rejection_superseded()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "v1")));
        using (var first = await DumpAsync(proxy))
        {
            Assert.Empty(first.RootElement.GetProperty("loadErrors").EnumerateArray());
            Assert.Equal(1, first.RootElement.GetProperty("lastApplied").GetProperty("revision").GetInt64());
            Assert.Equal(proxy.PluginsFile, first.RootElement.GetProperty("lastApplied").GetProperty("source").GetString());
            Assert.Equal(JsonValueKind.Null, first.RootElement.GetProperty("lastRejected").ValueKind);
        }

        await proxy.WritePluginsAsync("plugins: [ this is : not yaml");
        await ProxyHarness.EventuallyAsync(async () => (await DumpAsync(proxy)).RootElement.GetProperty("loadErrors").GetArrayLength() == 1, "the rejection to be reported");
        using (var rejected = await DumpAsync(proxy))
        {
            var rejection = rejected.RootElement.GetProperty("lastRejected");
            Assert.Equal(rejected.RootElement.GetProperty("loadErrors")[0].GetProperty("reason").GetString(), rejection.GetProperty("reason").GetString());
            Assert.False(rejection.GetProperty("superseded").GetBoolean());
            Assert.Equal(1, rejected.RootElement.GetProperty("lastApplied").GetProperty("revision").GetInt64());
        }

        await proxy.WritePluginsAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "v2")));
        await ProxyHarness.EventuallyAsync(async () => (await DumpAsync(proxy)).RootElement.GetProperty("chainRevision").GetInt64() == 2, "the good set to apply");
        using var applied = await DumpAsync(proxy);
        Assert.Empty(applied.RootElement.GetProperty("loadErrors").EnumerateArray());
        var superseded = applied.RootElement.GetProperty("lastRejected");
        Assert.True(superseded.GetProperty("superseded").GetBoolean());
        Assert.False(string.IsNullOrEmpty(superseded.GetProperty("reason").GetString()));
        var lastApplied = applied.RootElement.GetProperty("lastApplied");
        Assert.Equal(2, lastApplied.GetProperty("revision").GetInt64());
        Assert.True(lastApplied.GetProperty("at").GetDateTimeOffset() >= superseded.GetProperty("at").GetDateTimeOffset());
    }

    [Fact]
    public async Task A_plugin_the_new_set_kept_is_shown_reused_with_the_time_its_VMs_started()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("kept", Example("add_header"), "add_header", "k"), Plugin("edited", Example("add_header"), "add_header", "v1")));
        using var first = await DumpAsync(proxy);
        var started = Plugins(first)["kept"].GetProperty("loadedAt").GetDateTimeOffset();
        Assert.False(Plugins(first)["kept"].GetProperty("reused").GetBoolean());

        await proxy.WritePluginsAsync(Yaml(Plugin("kept", Example("add_header"), "add_header", "k"), Plugin("edited", Example("add_header"), "add_header", "v2")));
        await ProxyHarness.EventuallyAsync(async () => (await DumpAsync(proxy)).RootElement.GetProperty("chainRevision").GetInt64() == 2, "the edited set to apply");
        using var second = await DumpAsync(proxy);
        var plugins = Plugins(second);
        Assert.True(plugins["kept"].GetProperty("reused").GetBoolean());
        Assert.Equal(started, plugins["kept"].GetProperty("loadedAt").GetDateTimeOffset());
        Assert.False(plugins["edited"].GetProperty("reused").GetBoolean());
        Assert.True(plugins["edited"].GetProperty("loadedAt").GetDateTimeOffset() > started);
    }

    [Fact]
    public async Task Each_plugin_shows_its_match_limits_vm_id_and_sha256_and_a_client_only_plugin_says_it_never_runs_here()
    {
        // A CLIENT-only plugin showed as Loaded with no hint that this SERVER-side proxy never runs it.
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Example("add_header"))));
        await using var proxy = await ProxyHarness.StartAsync(Yaml(
            Plugin("outbound", Example("add_header"), "add_header", "o", "match:\n- mode: CLIENT\n  ports:\n  - number: 8080"),
            Plugin("inbound", Example("add_header"), "add_header", "i",
                $"sha256: {sha}\nvmId: shared\nlimits:\n  maxMemoryBytes: 33554432\n  maxCallDuration: 1.5s\nmatch:\n- mode: SERVER")));

        using var dump = await DumpAsync(proxy);
        var plugins = Plugins(dump);

        var outbound = plugins["outbound"];
        Assert.Equal("Loaded", outbound.GetProperty("state").GetString());
        Assert.Equal(
            "plugin default/outbound matches only CLIENT (outbound) traffic and this proxy serves SERVER (inbound) traffic, so it never runs here; " +
            "to run it, add mode: SERVER (or CLIENT_AND_SERVER) to its match",
            outbound.GetProperty("warning").GetString());
        Assert.True(proxy.Logs.Contains("plugin default/outbound matches only CLIENT (outbound) traffic"),
            "the load logs a warning: " + string.Join(" | ", proxy.Logs.Lines));
        var match = Assert.Single(outbound.GetProperty("match").EnumerateArray());
        Assert.Equal("CLIENT", match.GetProperty("mode").GetString());
        Assert.Equal(8080, Assert.Single(match.GetProperty("ports").EnumerateArray()).GetProperty("number").GetInt32());
        Assert.Equal("default/outbound", outbound.GetProperty("vmId").GetString());
        Assert.Equal(JsonValueKind.Null, outbound.GetProperty("sha256").ValueKind);
        Assert.Equal(64L * 1024 * 1024, outbound.GetProperty("limits").GetProperty("maxMemoryBytes").GetInt64());
        Assert.Equal("100ms", outbound.GetProperty("limits").GetProperty("maxCallDuration").GetString());

        var inbound = plugins["inbound"];
        Assert.Equal(JsonValueKind.Null, inbound.GetProperty("warning").ValueKind);
        Assert.Equal("SERVER", Assert.Single(inbound.GetProperty("match").EnumerateArray()).GetProperty("mode").GetString());
        Assert.Equal("shared", inbound.GetProperty("vmId").GetString());
        Assert.Equal(sha, inbound.GetProperty("sha256").GetString());
        Assert.Equal(33554432, inbound.GetProperty("limits").GetProperty("maxMemoryBytes").GetInt64());
        Assert.Equal("1500ms", inbound.GetProperty("limits").GetProperty("maxCallDuration").GetString());
        Assert.Equal("i", (await proxy.GetAsync("/")).Response.Headers.GetValues("hello").Single());
    }

    private static Dictionary<string, JsonElement> Plugins(JsonDocument dump) =>
        dump.RootElement.GetProperty("plugins").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString() ?? "");

    private static async Task<JsonDocument> DumpAsync(ProxyHarness proxy) => JsonDocument.Parse(await proxy.Admin.GetStringAsync("/config_dump"));
}
