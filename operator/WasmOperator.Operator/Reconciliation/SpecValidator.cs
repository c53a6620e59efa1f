using System.Text.Json.Nodes;
using WasmOperator.Api.Serialization;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Validation;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// Checks a spec with the same schema and CEL rules the API server applies (objects stored under an older
/// schema are caught here), then refuses what this version cannot run yet: NETWORK plugins and gateway targets.
/// </summary>
internal sealed class SpecValidator
{
    private readonly CrdSchemaValidator _schema;

    public SpecValidator()
    {
        using var stream = typeof(SpecValidator).Assembly.GetManifestResourceStream("wasmplugin.yaml")
            ?? throw new InvalidOperationException("the embedded CRD wasmplugin.yaml is missing from the operator assembly");
        using var reader = new StreamReader(stream);
        _schema = CrdSchemaValidator.FromCrd(YamlJson.Parse(reader.ReadToEnd()), WasmPlugin.Version);
    }

    /// <summary>Returns null when the plugin can be reconciled, else the Stalled outcome saying why.</summary>
    public PluginOutcome? Validate(WasmPlugin plugin)
    {
        var spec = plugin.Spec;
        if (spec is null)
        {
            return PluginOutcome.Stalled(ConditionReasons.InvalidSpec, "spec: Required value");
        }

        var obj = new JsonObject
        {
            ["apiVersion"] = WasmPlugin.GroupVersion,
            ["kind"] = WasmPlugin.KindName,
            ["metadata"] = new JsonObject { ["name"] = plugin.Metadata?.Name, ["namespace"] = plugin.Metadata?.Namespace },
            ["spec"] = WasmPluginSerializer.ToJson(new WasmPlugin { Spec = spec })["spec"]?.DeepClone(),
        };
        var result = _schema.Validate(obj);
        if (result.Errors.Count > 0)
        {
            var details = string.Join("; ", result.Errors.Select(e => $"{e.Field}: {e.Detail}"));
            return PluginOutcome.Stalled(ConditionReasons.InvalidSpec, $"the spec is invalid: {details}; fix the WasmPlugin");
        }

        if ((LabelSelectorChecker.Problem(spec.Selector, "spec.selector") ?? LabelSelectorChecker.Problem(spec.Rollout?.Canary?.Selector, "spec.rollout.canary.selector")) is { } selector)
        {
            return PluginOutcome.Stalled(ConditionReasons.InvalidSpec, $"the spec is invalid: {selector}; fix the WasmPlugin");
        }

        if (spec.Type == PluginType.Network)
        {
            return PluginOutcome.Stalled(ConditionReasons.Unsupported, "spec.type: NETWORK plugins are not supported yet; use HTTP (or leave type unset)");
        }

        if (spec.TargetRefs is { Count: > 0 } || spec.TargetRef is not null)
        {
            return PluginOutcome.Stalled(ConditionReasons.Unsupported, "spec.targetRefs: gateway targets are not supported yet; select workloads with spec.selector");
        }

        return null;
    }
}
