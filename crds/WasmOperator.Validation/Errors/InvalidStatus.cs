using System.Text.Json.Nodes;

namespace WasmOperator.Validation;

/// <summary>Builds the 422 <c>metav1.Status</c> kube-apiserver answers with when an object is invalid.</summary>
public static class InvalidStatus
{
    /// <summary>
    /// The Status body, e.g. message <c>WasmPlugin.extensions.wasmoperator.io "x" is invalid: spec.url: Required value</c>
    /// (several errors are joined as <c>[a, b]</c>), reason <c>Invalid</c>, code 422, one cause per error.
    /// </summary>
    /// <param name="kind">The resource kind, e.g. <c>WasmPlugin</c>.</param>
    /// <param name="group">The API group; empty for the core group.</param>
    /// <param name="name">The object's name.</param>
    /// <param name="errors">The violations, usually <see cref="ValidationResult.Errors"/>.</param>
    public static JsonObject Build(string kind, string group, string name, IReadOnlyList<FieldError> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        var qualifiedKind = group.Length == 0 ? kind : $"{kind}.{group}";
        var messages = new List<string>(errors.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var causes = new JsonArray();
        foreach (var error in errors)
        {
            var text = error.ToString();
            if (seen.Add(text))
            {
                messages.Add(text);
            }

            causes.Add(new JsonObject
            {
                ["reason"] = error.Reason,
                ["message"] = error.Body,
                ["field"] = error.Field,
            });
        }

        var aggregate = messages.Count == 1 ? messages[0] : $"[{string.Join(", ", messages)}]";
        return new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = $"{qualifiedKind} \"{name}\" is invalid: {aggregate}",
            ["reason"] = "Invalid",
            ["details"] = new JsonObject
            {
                ["name"] = name,
                ["group"] = group,
                ["kind"] = kind,
                ["causes"] = causes,
            },
            ["code"] = 422,
        };
    }
}
