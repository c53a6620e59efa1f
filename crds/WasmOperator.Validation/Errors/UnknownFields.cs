namespace WasmOperator.Validation;

/// <summary>
/// Words pruned fields as kube-apiserver does under fieldValidation: each one <c>unknown field "spec.x"</c>
/// (a warning under Warn), all of them together a strict decoding error under Strict.
/// </summary>
public static class UnknownFields
{
    /// <summary>One field, e.g. <c>unknown field "spec.pluginconfig"</c> (Go's <c>%q</c> quoting).</summary>
    public static string Describe(string path) => $"unknown field {FieldErrorFormat.Quote(path)}";

    /// <summary>
    /// All of them, e.g. <c>strict decoding error: unknown field "spec.a", unknown field "spec.b"</c>
    /// (apimachinery's <c>runtime.NewStrictDecodingError</c>).
    /// </summary>
    public static string StrictDecodingError(IEnumerable<string> paths) =>
        "strict decoding error: " + string.Join(", ", paths.Select(Describe));

    /// <summary>
    /// The message kube-apiserver refuses a write with, e.g.
    /// <c>WasmPlugin in version "v1alpha1" cannot be handled as a WasmPlugin: strict decoding error: unknown field "spec.x"</c>.
    /// </summary>
    public static string CannotBeHandled(string kind, string version, IEnumerable<string> paths) =>
        $"{kind} in version {FieldErrorFormat.Quote(version)} cannot be handled as a {kind}: {StrictDecodingError(paths)}";
}
