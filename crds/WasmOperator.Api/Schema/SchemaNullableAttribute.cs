namespace WasmOperator.Api.Schema;

/// <summary>An explicit null is a valid value (<c>nullable: true</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class SchemaNullableAttribute : Attribute
{

}
