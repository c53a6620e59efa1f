namespace WasmOperator.Api.Schema;

/// <summary>A column of <c>kubectl get</c> (<c>additionalPrinterColumns</c>), declared on the root type in display order.</summary>
/// <param name="name">The column header.</param>
/// <param name="type">The OpenAPI type: string, integer, number, boolean or date.</param>
/// <param name="jsonPath">The JSONPath of the value, e.g. <c>.status.rollout.phase</c>.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class PrinterColumnAttribute(string name, string type, string jsonPath) : Attribute
{
    /// <summary>The column header.</summary>
    public string Name { get; } = name;

    /// <summary>The OpenAPI type.</summary>
    public string Type { get; } = type;

    /// <summary>The JSONPath of the value.</summary>
    public string JsonPath { get; } = jsonPath;

    /// <summary>Shown with the column in <c>kubectl explain</c>-like output.</summary>
    public string? Description { get; init; }

    /// <summary>0 shows the column always; higher only with <c>-o wide</c>.</summary>
    public int Priority { get; init; }
}
