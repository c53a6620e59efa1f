namespace WasmOperator.Api.Schema;

/// <summary>The list's <c>x-kubernetes-list-type</c> (<c>atomic</c> or <c>set</c>; use <see cref="ListMapKeysAttribute"/> for maps).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class ListTypeAttribute(string type) : Attribute
{
    /// <summary><c>atomic</c> or <c>set</c>.</summary>
    public string Type { get; } = type;
}
