using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Api;

/// <summary>The <c>fieldValidation</c> query parameter: what to do about fields the schema does not declare.</summary>
internal enum FieldValidation
{
    /// <summary>Drop them silently.</summary>
    Ignore,

    /// <summary>Drop them and name each in a <c>Warning</c> header; kube-apiserver's default.</summary>
    Warn,

    /// <summary>Refuse the write with 400 BadRequest; kubectl's default (<c>--validate=strict</c>).</summary>
    Strict,
}

internal static class FieldValidationParser
{
    /// <summary>
    /// Reads the parameter as kube-apiserver does: absent or empty means Warn, the names are case-sensitive, and
    /// anything else is refused as an invalid <paramref name="optionsKind"/> (CreateOptions, UpdateOptions, PatchOptions).
    /// </summary>
    public static FieldValidation Parse(string? value, string optionsKind) => value switch
    {
        null or "" or "Warn" => FieldValidation.Warn,
        "Strict" => FieldValidation.Strict,
        "Ignore" => FieldValidation.Ignore,
        _ => throw Unsupported(value, optionsKind),
    };

    private static ApiException Unsupported(string value, string optionsKind)
    {
        var cause = $"Unsupported value: \"{value}\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"";
        return new ApiException(422, "Invalid", $"{optionsKind}.meta.k8s.io \"\" is invalid: fieldValidation: {cause}", new JsonObject
        {
            ["name"] = string.Empty,
            ["group"] = "meta.k8s.io",
            ["kind"] = optionsKind,
            ["causes"] = new JsonArray(new JsonObject
            {
                ["reason"] = "FieldValueNotSupported",
                ["message"] = cause,
                ["field"] = "fieldValidation",
            }),
        });
    }
}
