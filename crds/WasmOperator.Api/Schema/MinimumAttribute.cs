namespace WasmOperator.Api.Schema;

/// <summary>The smallest allowed number (<c>minimum</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class MinimumAttribute(long value) : Attribute
{
    /// <summary>The smallest allowed value.</summary>
    public long Value { get; } = value;
}
