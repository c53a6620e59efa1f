using System.Text.Json.Nodes;

namespace WasmOperator.Validation;

/// <summary>
/// One violation of a schema or rule, shaped like kube-apiserver's <c>field.Error</c>.
/// </summary>
/// <param name="Field">The field path, e.g. <c>spec.vmConfig.env[0].value</c>.</param>
/// <param name="Reason">kube's cause type, e.g. <c>FieldValueRequired</c> (see <see cref="FieldErrorReasons"/>).</param>
/// <param name="Detail">The text after the kind of error, e.g. the CEL rule's message; may be empty.</param>
/// <param name="BadValue">The offending value, or null when there is none to show.</param>
public sealed record FieldError(string Field, string Reason, string Detail, JsonNode? BadValue)
{
    /// <summary>The error without its field path, e.g. <c>Required value</c>; kube's <c>ErrorBody()</c>.</summary>
    public string Body => FieldErrorFormat.Body(this);

    /// <summary>The error as kube prints it, e.g. <c>spec.url: Required value</c>.</summary>
    public override string ToString() => $"{Field}: {Body}";
}
