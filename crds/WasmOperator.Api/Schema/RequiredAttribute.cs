namespace WasmOperator.Api.Schema;

/// <summary>The field must be present (openAPIV3Schema <c>required</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class RequiredAttribute : Attribute
{

}
