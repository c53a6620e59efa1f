using System.Text.Json.Nodes;
using WasmOperator.Api.Serialization;
using WasmOperator.Operator.Reconciliation;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class SpecValidatorTests
{
    private static readonly SpecValidator Validator = new();

    [Fact]
    public void A_NETWORK_plugin_with_targetRefs_is_told_both_are_unsupported_at_once()
    {
        var plugin = Plugin(spec =>
        {
            spec["type"] = "NETWORK";
            spec["targetRefs"] = new JsonArray(new JsonObject { ["group"] = "gateway.networking.k8s.io", ["kind"] = "Gateway", ["name"] = "g" });
        });

        var outcome = Validator.Validate(plugin);

        Assert.NotNull(outcome);
        Assert.Equal(ConditionReasons.Unsupported, outcome.Reason);
        Assert.Contains("spec.type: NETWORK plugins are not supported yet", outcome.Message, StringComparison.Ordinal);
        Assert.Contains("spec.targetRefs: gateway targets are not supported yet", outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Both_selectors_kubernetes_would_not_accept_are_named_at_once()
    {
        var plugin = Plugin(spec =>
        {
            spec["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["bad key!"] = "web" } };
            spec["rollout"] = new JsonObject { ["canary"] = new JsonObject { ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = "-web" } } } };
        });

        var outcome = Validator.Validate(plugin);

        Assert.NotNull(outcome);
        Assert.Equal(ConditionReasons.InvalidSpec, outcome.Reason);
        Assert.Contains("spec.selector.matchLabels: Invalid value: \"bad key!\"", outcome.Message, StringComparison.Ordinal);
        Assert.Contains("spec.rollout.canary.selector.matchLabels[app]: Invalid value: \"-web\"", outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_plain_HTTP_plugin_passes()
    {
        Assert.Null(Validator.Validate(Plugin(_ => { })));
    }

    private static Api.WasmPlugins.WasmPlugin Plugin(Action<JsonObject> edit)
    {
        var spec = new JsonObject { ["url"] = "oci://registry.example/plugins/auth:v1" };
        edit(spec);
        return WasmPluginSerializer.FromJson(new JsonObject
        {
            ["apiVersion"] = Api.WasmPlugins.WasmPlugin.GroupVersion,
            ["kind"] = Api.WasmPlugins.WasmPlugin.KindName,
            ["metadata"] = new JsonObject { ["name"] = "p", ["namespace"] = "default" },
            ["spec"] = spec,
        });
    }
}
