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
        // Every problem in one message: fixing one must not reveal the next only after another round trip.
        var invalid = new List<string>();
        foreach (var error in _schema.Validate(obj).Errors)
        {
            invalid.Add($"{error.Field}: {error.Detail}");
        }

        // The selector checks go beyond the schema; on a spec the schema refused they would repeat its errors.
        if (invalid.Count == 0)
        {
            AddIfAny(invalid, LabelSelectorChecker.Problem(spec.Selector, "spec.selector"));
            AddIfAny(invalid, LabelSelectorChecker.Problem(spec.Rollout?.Canary?.Selector, "spec.rollout.canary.selector"));
        }

        if (invalid.Count > 0)
        {
            return PluginOutcome.Stalled(ConditionReasons.InvalidSpec, $"the spec is invalid: {string.Join("; ", invalid)}; fix the WasmPlugin");
        }

        var unsupported = new List<string>();
        if (spec.Type == PluginType.Network)
        {
            unsupported.Add("spec.type: NETWORK plugins are not supported yet, use HTTP (or leave type unset)");
        }

        var target = spec.TargetRefs is { Count: > 0 } ? "spec.targetRefs" : spec.TargetRef is not null ? "spec.targetRef" : null;
        if (target is not null)
        {
            unsupported.Add($"{target}: gateway targets are not supported yet, select workloads with spec.selector");
        }

        if (unsupported.Count > 0)
        {
            return PluginOutcome.Stalled(ConditionReasons.Unsupported, string.Join("; ", unsupported));
        }

        return null;
    }

    private static void AddIfAny(List<string> problems, string? problem)
    {
        if (problem is not null)
        {
            problems.Add(problem);
        }
    }
}
