namespace WasmOperator.Api.Schema;

/// <summary>The list is a map keyed by these item fields (<c>x-kubernetes-list-type: map</c> + <c>x-kubernetes-list-map-keys</c>); keys must be unique.</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class ListMapKeysAttribute(params string[] keys) : Attribute
{
    /// <summary>The fields that identify an item.</summary>
    public IReadOnlyList<string> Keys { get; } = keys;
}
