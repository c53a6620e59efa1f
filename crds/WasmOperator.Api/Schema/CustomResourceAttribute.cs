namespace WasmOperator.Api.Schema;

/// <summary>Marks the root type of a custom resource and names it for the CRD.</summary>
/// <param name="group">The API group, e.g. <c>extensions.wasmoperator.io</c>.</param>
/// <param name="version">The version, e.g. <c>v1alpha1</c>.</param>
/// <param name="kind">The kind, e.g. <c>WasmPlugin</c>.</param>
/// <param name="plural">The plural resource name, e.g. <c>wasmplugins</c>.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class CustomResourceAttribute(string group, string version, string kind, string plural) : Attribute
{
    /// <summary>The API group.</summary>
    public string Group { get; } = group;

    /// <summary>The version.</summary>
    public string Version { get; } = version;

    /// <summary>The kind.</summary>
    public string Kind { get; } = kind;

    /// <summary>The plural resource name.</summary>
    public string Plural { get; } = plural;

    /// <summary>Short names for kubectl, e.g. <c>wp</c>.</summary>
    public string[] ShortNames { get; init; } = [];

    /// <summary>Categories for <c>kubectl get &lt;category&gt;</c>.</summary>
    public string[] Categories { get; init; } = [];

    /// <summary>Namespaced (true) or cluster-scoped.</summary>
    public bool Namespaced { get; init; } = true;

    /// <summary>Whether <c>status</c> is a subresource.</summary>
    public bool StatusSubresource { get; init; } = true;
}
