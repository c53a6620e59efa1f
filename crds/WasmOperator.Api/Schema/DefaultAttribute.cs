using System.Text.Json.Nodes;

namespace WasmOperator.Api.Schema;

/// <summary>The value kube-apiserver fills in when the field is omitted (<c>default</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class DefaultAttribute : Attribute
{
    /// <summary>A string default (also used for enum fields).</summary>
    public DefaultAttribute(string value) => Value = JsonValue.Create(value);

    /// <summary>An integer default.</summary>
    public DefaultAttribute(long value) => Value = JsonValue.Create(value);

    /// <summary>A number default.</summary>
    public DefaultAttribute(double value) => Value = JsonValue.Create(value);

    /// <summary>A boolean default.</summary>
    public DefaultAttribute(bool value) => Value = JsonValue.Create(value);

    /// <summary>The default as JSON.</summary>
    public JsonNode Value { get; }
}
