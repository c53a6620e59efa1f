namespace WasmOperator.Api.Schema;

/// <summary>The minimum length of a string (<c>minLength</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class MinLengthAttribute(long length) : Attribute
{
    /// <summary>The minimum number of characters.</summary>
    public long Length { get; } = length;
}
