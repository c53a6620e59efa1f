namespace WasmOperator.Api.Schema;

/// <summary>
/// A CEL rule kube-apiserver evaluates on the value (<c>x-kubernetes-validations</c>). On a class it applies
/// to every object of that type; on a property, to the property's value. <c>self</c> is that value.
/// </summary>
/// <param name="rule">The CEL expression; true means valid.</param>
/// <param name="message">What the user reads when the rule fails.</param>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Property, AllowMultiple = true)]
public sealed class CelRuleAttribute(string rule, string message) : Attribute
{
    /// <summary>The CEL expression.</summary>
    public string Rule { get; } = rule;

    /// <summary>The error message.</summary>
    public string Message { get; } = message;

    /// <summary>Optional path of the field to blame, relative to <c>self</c>, e.g. <c>.sha256</c>.</summary>
    public string? FieldPath { get; init; }

    /// <summary>Optional kube cause type, e.g. <c>FieldValueForbidden</c>; default FieldValueInvalid.</summary>
    public string? Reason { get; init; }
}
