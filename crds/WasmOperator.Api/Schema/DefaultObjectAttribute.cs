namespace WasmOperator.Api.Schema;

/// <summary>The field defaults to <c>{}</c>, so the defaults of its own fields apply when it is omitted.</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class DefaultObjectAttribute : Attribute
{

}
