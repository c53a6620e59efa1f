using System.Net;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Chain;

/// <summary>The stand-alone plugin file: fields, and clear errors for bad files while the old chain keeps serving.</summary>
public sealed class PluginFileTests
{
    [Fact]
    public void Every_field_the_operator_pushes_is_read()
    {
        var specs = PluginFileParser.Parse("""
            plugins:
            - name: full
              namespace: team-a
              url: file:///tmp/p.wasm
              sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
              pluginName: root
              pluginConfig:
                header: x-a
                count: 3
                on: true
                quoted: "3"
              vmConfig:
                env:
                - name: A
                  value: "1"
                - name: B
                  valueFrom: INLINE
                  value: two
              phase: AUTHZ
              priority: 7
              failStrategy: FAIL_RELOAD
              mode: LOG_ONLY
              limits:
                maxMemoryBytes: 1048576
                maxCallDuration: 250ms
              match:
              - mode: SERVER
                ports:
                - number: 8080
            """, "test");

        var spec = Assert.Single(specs);
        Assert.Equal("team-a/full", spec.Key);
        Assert.Equal("root", spec.PluginName);
        Assert.Equal("""{"header":"x-a","count":3,"on":true,"quoted":"3"}""", spec.PluginConfig);
        Assert.Equal("1", spec.Env["A"]);
        Assert.Equal("two", spec.Env["B"]);
        Assert.Equal(PluginPhase.AUTHZ, spec.Phase);
        Assert.Equal(7, spec.Priority);
        Assert.Equal(FailStrategy.FAIL_RELOAD, spec.FailStrategy);
        Assert.Equal(PluginMode.LOG_ONLY, spec.Mode);
        Assert.Equal(1048576, spec.MaxMemoryBytes);
        Assert.Equal(TimeSpan.FromMilliseconds(250), spec.MaxCallDuration);
        Assert.True(spec.Match.Single().Matches("SERVER", 8080));
        Assert.False(spec.Match.Single().Matches("SERVER", 8081));
    }

    [Theory]
    [InlineData("plugins: [ {name: a", "not valid YAML")]
    [InlineData("plugins:\n- url: file:///x.wasm\n", "plugins[0].name: required")]
    [InlineData("plugins:\n- name: a\n  url: file:///x.wasm\n  failStrategy: FAIL_SOMETIMES\n", "plugins[0].failStrategy (line 4): must be one of FAIL_CLOSE, FAIL_OPEN, FAIL_RELOAD")]
    [InlineData("plugins:\n- name: a\n  url: file:///x.wasm\n  colour: red\n", "plugins[0].colour (line 4): unknown field")]
    [InlineData("plugins:\n- name: a\n  url: file:///x.wasm\n  match:\n  - ports:\n    - number: 70000\n", "plugins[0].match[0].ports[0].number: must be 1-65535")]
    [InlineData("plugins:\n- name: a\n  url: file:///x.wasm\n  vmConfig:\n    env:\n    - {name: MODE, value: on}\n    - {name: MODE, value: off}\n",
        "plugins[0].vmConfig.env[1].name: 'MODE' is already set by env[0]; names must be unique")]
    public void A_malformed_file_is_rejected_with_the_field_and_the_reason(string yaml, string expected)
    {
        var error = Assert.Throws<PluginFileException>(() => PluginFileParser.Parse(yaml, "plugins.yaml"));
        Assert.True(error.Message.Contains(expected, StringComparison.Ordinal), error.Message);
    }

    [Theory]
    [InlineData("file://tmp/adv1/x.wasm", "'tmp'", "file:///tmp/adv1/x.wasm")]
    [InlineData("file://Users/me/x.wasm", "'users'", "file:///Users/me/x.wasm")]
    public void A_file_url_with_a_host_is_refused_naming_the_field_and_the_three_slash_form(string url, string host, string meant)
    {
        // The proxy read these as UNC paths (\\tmp\adv1\x.wasm) and said only that it could not find that file.
        var error = Assert.Throws<PluginFileException>(() => PluginFileParser.Parse($"plugins:\n- name: a\n  url: {url}\n", "plugins.yaml"));

        Assert.Contains($"plugins.yaml: plugins[0].url (line 3): url '{url}' names the host {host}", error.Message, StringComparison.Ordinal);
        Assert.Contains($"write {meant} (three slashes)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_module_url_naming_localhost_loads_the_local_file_as_rfc_8089_says()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("version", "localhost" + Example("add_header"), "add_header", "v1")));

        var (response, _) = await proxy.GetAsync("/");
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("v1", response.Headers.GetValues("hello").Single());
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("1.5s", 1500)]
    [InlineData("1s500ms", 1500)]
    [InlineData("0m10s", 10_000)]
    [InlineData("0h0m1ms", 1)]
    public void A_call_duration_is_read_in_every_form_the_crd_admits(string text, double milliseconds)
    {
        // The CRD admits Go durations (^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$) of 1ms to 10s: what the operator pushes must parse here.
        var spec = PluginFileParser.Parse($"plugins:\n- name: a\n  url: file:///x.wasm\n  limits:\n    maxCallDuration: {text}\n", "plugins.yaml").Single();

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), spec.MaxCallDuration);
    }

    [Theory]
    [InlineData("1m30")]
    [InlineData("0s")]
    [InlineData("fast")]
    public void A_call_duration_that_is_no_duration_is_refused(string text)
    {
        var error = Assert.Throws<PluginFileException>(() =>
            PluginFileParser.Parse($"plugins:\n- name: a\n  url: file:///x.wasm\n  limits:\n    maxCallDuration: {text}\n", "plugins.yaml"));

        Assert.Contains("plugins[0].limits.maxCallDuration: must be a duration such as 100ms, 2s or 1m30s", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_with_a_second_yaml_document_is_refused_naming_its_line_and_the_previous_set_keeps_serving()
    {
        // Only the first document was read: a FAIL_CLOSE authorizer in the second was dropped and requests passed.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("version", Example("add_header"), "add_header", "v1")));
        var yaml = Yaml(Plugin("version", Example("add_header"), "add_header", "v2")) + "---\n" +
                   Yaml(Plugin("authz", Example("auth"), "auth", extra: "phase: AUTHZ\nfailStrategy: FAIL_CLOSE"));

        var result = await proxy.Server.Chains.ApplyFileAsync(proxy.PluginsFile, Encoding.UTF8.GetBytes(yaml), null, CancellationToken.None);

        Assert.NotNull(result.Reason);
        Assert.Contains($"{proxy.PluginsFile}: line 6: a second YAML document ('---')", result.Reason, StringComparison.Ordinal);
        Assert.Contains("Put every plugin under the one 'plugins:' list", result.Reason, StringComparison.Ordinal);
        Assert.Equal("v1", (await proxy.GetAsync("/")).Response.Headers.GetValues("hello").Single());
        Assert.Contains("a second YAML document", await proxy.Admin.GetStringAsync("/config_dump"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("plugins: []\n---\n")]
    [InlineData("---\nplugins: []\n---\n# nothing more\n")]
    public void An_empty_document_after_the_plugins_is_skipped_as_kubectl_skips_it(string yaml)
    {
        Assert.Empty(PluginFileParser.Parse(yaml, "plugins.yaml"));
    }

    [Theory]
    [InlineData("plugins:\n")]
    [InlineData("plugins: ~\n")]
    [InlineData("plugins: null\n")]
    public void Plugins_without_a_value_is_refused_as_a_write_in_progress_not_read_as_no_plugins(string yaml)
    {
        // 'plugins:' alone is what a writer leaves after its first line; it removed every plugin.
        var error = Assert.Throws<PluginFileException>(() => PluginFileParser.Parse(yaml, "plugins.yaml"));

        Assert.Contains("plugins.yaml: line 1: 'plugins' has no value; refused, as it may be a write still in progress", error.Message, StringComparison.Ordinal);
        Assert.Contains("To remove every plugin, write 'plugins: []'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_mapping_without_the_plugins_key_is_refused_naming_the_key()
    {
        var error = Assert.Throws<PluginFileException>(() => PluginFileParser.Parse("{}\n", "plugins.yaml"));

        Assert.Contains("plugins.yaml: line 1: no 'plugins' key", error.Message, StringComparison.Ordinal);
        Assert.Contains("write 'plugins: []' to remove every plugin", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1h")]
    [InlineData("1m30s")]
    [InlineData("10001ms")]
    [InlineData("0.5ms")]
    public void A_call_duration_outside_the_crds_1ms_to_10s_is_refused(string text)
    {
        // 1h was accepted, where the API server refuses it.
        var error = Assert.Throws<PluginFileException>(() =>
            PluginFileParser.Parse($"plugins:\n- name: a\n  url: file:///x.wasm\n  limits:\n    maxCallDuration: {text}\n", "plugins.yaml"));

        Assert.Contains($"plugins.yaml: plugins[0].limits.maxCallDuration (line 5): must be a duration between 1ms and 10s, such as 100ms, as the CRD requires, got '{text}'",
            error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_call_duration_longer_than_the_crd_allows_is_refused()
    {
        var text = "1ms" + string.Concat(Enumerable.Repeat("0s", 31));

        var error = Assert.Throws<PluginFileException>(() =>
            PluginFileParser.Parse($"plugins:\n- name: a\n  url: file:///x.wasm\n  limits:\n    maxCallDuration: {text}\n", "plugins.yaml"));

        Assert.Contains("plugins[0].limits.maxCallDuration (line 5): at most 64 characters", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1000")]
    [InlineData("1048575")]
    public void A_memory_limit_under_the_crds_1_mib_is_refused_at_parse_time(string bytes)
    {
        // 1000 parsed and failed only when the VM started, with Wasmtime's message.
        var error = Assert.Throws<PluginFileException>(() =>
            PluginFileParser.Parse($"plugins:\n- name: a\n  url: file:///x.wasm\n  limits:\n    maxMemoryBytes: {bytes}\n", "plugins.yaml"));

        Assert.Contains($"plugins.yaml: plugins[0].limits.maxMemoryBytes (line 5): must be at least 1048576 (1 MiB), as the CRD requires, got {bytes}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void More_than_256_environment_variables_are_refused()
    {
        var env = string.Concat(Enumerable.Range(0, 257).Select(i => $"    - {{name: V{i}, value: x}}\n"));

        var error = Assert.Throws<PluginFileException>(() => PluginFileParser.Parse($"plugins:\n- name: a\n  url: file:///x.wasm\n  vmConfig:\n    env:\n{env}", "plugins.yaml"));

        Assert.Contains("plugins[0].vmConfig.env (line 6): 257 variables, at most 256 allowed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_file_is_reported_and_the_previous_chain_keeps_serving()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("version", Example("add_header"), "add_header", "v1")));
        await proxy.WritePluginsAsync("plugins:\n- name: broken\n  url: file:///x.wasm\n  phase: NOWHERE\n");

        await ProxyHarness.EventuallyAsync(async () => (await proxy.Admin.GetStringAsync("/config_dump")).Contains("phase (line 4)", StringComparison.Ordinal), "the load error is reported");
        var (response, _) = await proxy.GetAsync("/");
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("v1", string.Join(",", response.Headers.GetValues("hello")));
        Assert.True(proxy.Logs.Contains("rejected"));
    }

    [Fact]
    public async Task A_plugin_whose_configure_fails_or_whose_digest_differs_is_rejected_and_the_previous_chain_keeps_serving()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("version", Example("add_header"), "add_header", "v1")));
        var chains = proxy.Server.Chains;

        var configure = await chains.ApplyAsync(PluginFileParser.Parse(Yaml(Plugin("bad", Wat("configure_fails"), "")), "t"), "t", CancellationToken.None);
        Assert.NotNull(configure);
        Assert.Contains("default/bad", configure, StringComparison.Ordinal);

        var digest = await chains.ApplyAsync(
            PluginFileParser.Parse(Yaml(Plugin("v2", Example("add_header"), "add_header", "v2", "sha256: " + new string('0', 64))), "t"), "t", CancellationToken.None);
        Assert.NotNull(digest);
        Assert.Contains("sha256 mismatch", digest, StringComparison.Ordinal);

        var missing = await chains.ApplyAsync(PluginFileParser.Parse(Yaml(Plugin("gone", "/nonexistent/plugin.wasm", "x")), "t"), "t", CancellationToken.None);
        Assert.NotNull(missing);
        Assert.Contains("/nonexistent/plugin.wasm", missing, StringComparison.Ordinal);

        Assert.Equal("v1", (await proxy.GetAsync("/")).Response.Headers.GetValues("hello").Single());
        Assert.Equal(1, chains.Current!.Revision);
    }
}
