namespace WasmOperator.Api.Schema;

/// <summary>A string must match a regular expression (<c>pattern</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class PatternAttribute(string regex) : Attribute
{
    /// <summary>The regular expression a string must match.</summary>
    public string Regex { get; } = regex;
}
