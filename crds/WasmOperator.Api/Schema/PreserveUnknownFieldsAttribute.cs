namespace WasmOperator.Api.Schema;

/// <summary>The object keeps fields the schema does not declare (<c>x-kubernetes-preserve-unknown-fields</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class PreserveUnknownFieldsAttribute : Attribute
{

}
