namespace WasmOperator.Api.Schema;

/// <summary>The minimum number of items of a list (<c>minItems</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class MinItemsAttribute(long count) : Attribute
{
    /// <summary>The minimum number of items.</summary>
    public long Count { get; } = count;
}
