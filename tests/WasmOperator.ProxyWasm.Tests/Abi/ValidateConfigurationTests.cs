using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

public class ValidateConfigurationTests
{
    private static ProxyWasmPlugin Load(string fixture, string name, string configuration, TestPluginHost host, int shards = 1) =>
        SharedRuntime.Instance.LoadPlugin(SharedRuntime.Instance.Compile(TestModules.Wat(fixture)),
            new PluginOptions { Name = name, Shards = shards, Configuration = System.Text.Encoding.UTF8.GetBytes(configuration) }, host);

    [Fact]
    public void A_configuration_the_root_context_accepts_is_validated_before_on_configure_on_every_shard()
    {
        var host = new TestPluginHost();

        using var plugin = Load("validate_configuration", "accepting", "ok: yes", host, shards: 2);

        // Root context id 1 on each shard; validation (which read all 7 bytes of buffer 7) comes first.
        Assert.Equal(["validate 1", "configure", "validate 1", "configure"], host.Messages());
        Assert.Equal(2, plugin.HealthyShards);
    }

    [Fact]
    public void A_configuration_the_root_context_rejects_is_a_load_error_naming_the_plugin_and_on_configure_never_runs()
    {
        var host = new TestPluginHost();

        var error = Assert.Throws<PluginLoadException>(() => Load("validate_configuration", "rejecting", "nope", host));

        Assert.Contains("plugin 'rejecting'", error.Message, StringComparison.Ordinal);
        Assert.Contains("proxy_validate_configuration rejected the plugin configuration (4 bytes", error.Message, StringComparison.Ordinal);
        Assert.True(error.ConfigurationRejected);
        Assert.Equal(["validate 1"], host.Messages());
    }

    [Fact]
    public void An_empty_configuration_is_validated_too()
    {
        var host = new TestPluginHost();

        var error = Assert.Throws<PluginLoadException>(() => Load("validate_configuration", "empty", "", host));

        Assert.Contains("(0 bytes", error.Message, StringComparison.Ordinal);
        Assert.Equal(["validate 1"], host.Messages());
    }

    [Fact]
    public void A_module_without_proxy_validate_configuration_is_configured_without_validation()
    {
        var host = new TestPluginHost();

        using var plugin = Load("configure_only", "unvalidated", "anything", host);

        Assert.Equal(["configure"], host.Messages());
        Assert.Equal(1, plugin.HealthyShards);
    }
}
