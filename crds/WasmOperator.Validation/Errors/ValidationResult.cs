using System.Text.Json.Nodes;

namespace WasmOperator.Validation;

/// <summary>The outcome of <see cref="CrdSchemaValidator.Validate"/>.</summary>
/// <param name="Object">A pruned and defaulted copy of the input: what kube-apiserver would store.</param>
/// <param name="Errors">Every violation found, in the order kube-apiserver reports them.</param>
public sealed record ValidationResult(JsonObject Object, IReadOnlyList<FieldError> Errors)
{
    /// <summary>True when there are no errors.</summary>
    public bool IsValid => Errors.Count == 0;

    /// <summary>
    /// The paths of fields the schema does not declare, which pruning dropped from <see cref="Object"/>
    /// (e.g. <c>spec.pluginconfig</c>), sorted as kube-apiserver sorts them. Not errors by themselves:
    /// the caller's fieldValidation decides (see <see cref="UnknownFields"/>).
    /// </summary>
    public IReadOnlyList<string> PrunedFields { get; init; } = [];
}
