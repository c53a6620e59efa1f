namespace WasmOperator.Api.Schema;

/// <summary>Overrides the format derived from the C# type (<c>format</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class FormatAttribute(string name) : Attribute
{
    /// <summary>The format name, e.g. <c>date-time</c>.</summary>
    public string Name { get; } = name;
}
