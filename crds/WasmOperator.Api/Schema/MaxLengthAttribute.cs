namespace WasmOperator.Api.Schema;

/// <summary>The maximum length of a string (<c>maxLength</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class MaxLengthAttribute(long length) : Attribute
{
    /// <summary>The maximum number of characters.</summary>
    public long Length { get; } = length;
}
