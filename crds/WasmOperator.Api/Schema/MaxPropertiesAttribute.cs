namespace WasmOperator.Api.Schema;

/// <summary>The maximum number of entries of a map (<c>maxProperties</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class MaxPropertiesAttribute(long count) : Attribute
{
    /// <summary>The maximum number of entries.</summary>
    public long Count { get; } = count;
}
