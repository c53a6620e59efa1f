namespace WasmOperator.Api.Schema;

/// <summary>The maximum number of items of a list (<c>maxItems</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class MaxItemsAttribute(long count) : Attribute
{
    /// <summary>The maximum number of items.</summary>
    public long Count { get; } = count;
}
