using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace WasmOperator.Validation.Schema;

/// <summary>
/// Checks an object against a structural schema, wording each failure as kube-apiserver does
/// (kube-openapi's messages converted to field errors).
/// </summary>
internal static class OpenApiValidator
{
    public static void Validate(JsonNode? node, SchemaNode schema, string path, List<FieldError> errors)
    {
        if (node is null)
        {
            if (!schema.Nullable && (schema.Type.Length > 0 || schema.IntOrString))
            {
                errors.Add(TypeError(path, schema.IntOrString ? "integer,string" : schema.Type, "null"));
            }

            return;
        }

        var actual = JsonTypeOf(node);
        if (!TypeMatches(schema, actual))
        {
            errors.Add(TypeError(path, schema.IntOrString ? "integer,string" : schema.Type, actual));
            return;
        }

        if (schema.Enum is { } allowed && !allowed.Any(a => JsonNode.DeepEquals(a, node)))
        {
            var supported = string.Join(", ", allowed.Select(FieldErrorFormat.Value));
            errors.Add(new FieldError(path, FieldErrorReasons.NotSupported, $"supported values: {supported}", node.DeepClone()));
        }

        switch (node)
        {
            case JsonObject obj:
                ValidateObject(obj, schema, path, errors);
                break;
            case JsonArray array:
                ValidateArray(array, schema, path, errors);
                break;
            case JsonValue value when actual == "string":
                ValidateString(value.GetValue<string>(), schema, path, errors);
                break;
            case JsonValue value when actual is "integer" or "number":
                ValidateNumber(value, schema, path, errors);
                break;
            default:
                break;
        }
    }

    /// <summary>The JSON type name go-openapi reports for a value.</summary>
    public static string JsonTypeOf(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "string",
            JsonValueKind.True or JsonValueKind.False => "boolean",
            JsonValueKind.Number => IsInteger(v) ? "integer" : "number",
            _ => "null",
        },
        _ => "null",
    };

    private static bool IsInteger(JsonValue v)
    {
        var text = v.ToJsonString();
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
        {
            return true;
        }

        var d = double.Parse(text, CultureInfo.InvariantCulture);
        return Math.Floor(d) == d && Math.Abs(d) < 9.2e18;
    }

    private static bool TypeMatches(SchemaNode schema, string actual)
    {
        if (schema.IntOrString)
        {
            return actual is "integer" or "string";
        }

        return schema.Type switch
        {
            "" => true,
            "number" => actual is "number" or "integer",
            _ => schema.Type == actual,
        };
    }

    private static FieldError TypeError(string path, string expected, string actual) =>
        new(path, FieldErrorReasons.TypeInvalid, $"{path} in body must be of type {expected}: \"{actual}\"", JsonValue.Create(actual));

    private static void ValidateObject(JsonObject obj, SchemaNode schema, string path, List<FieldError> errors)
    {
        foreach (var name in schema.Required)
        {
            // Presence only, as kube-openapi checks: disallowed nulls were already dropped by defaulting.
            if (!obj.ContainsKey(name))
            {
                errors.Add(new FieldError(FieldPath.Child(path, name), FieldErrorReasons.Required, string.Empty, null));
            }
        }

        if (schema.MaxProperties is { } maxProps && obj.Count > maxProps)
        {
            errors.Add(new FieldError(path, FieldErrorReasons.TooMany, $"must have at most {maxProps} items", JsonValue.Create(obj.Count)));
        }

        if (schema.MinProperties is { } minProps && obj.Count < minProps)
        {
            errors.Add(Invalid(path, obj, $"{path} in body should have at least {minProps} properties"));
        }

        foreach (var (key, value) in obj)
        {
            if (schema.Properties.TryGetValue(key, out var property))
            {
                Validate(value, property, FieldPath.Child(path, key), errors);
            }
            else if (schema.AdditionalProperties is { } additional)
            {
                // kube-openapi names map entries with a dot, e.g. spec.selector.matchLabels.app.
                Validate(value, additional, FieldPath.Child(path, key), errors);
            }
        }
    }

    private static void ValidateArray(JsonArray array, SchemaNode schema, string path, List<FieldError> errors)
    {
        if (schema.MaxItems is { } max && array.Count > max)
        {
            errors.Add(new FieldError(path, FieldErrorReasons.TooMany, $"must have at most {max} items", JsonValue.Create(array.Count)));
        }

        if (schema.MinItems is { } min && array.Count < min)
        {
            errors.Add(Invalid(path, array, $"{path} in body should have at least {min} items"));
        }

        if (schema.Items is { } items)
        {
            for (var i = 0; i < array.Count; i++)
            {
                Validate(array[i], items, FieldPath.Index(path, i), errors);
            }
        }
    }

    private static void ValidateString(string value, SchemaNode schema, string path, List<FieldError> errors)
    {
        var length = value.EnumerateRunes().Count();
        if (schema.MaxLength is { } max && length > max)
        {
            errors.Add(new FieldError(path, FieldErrorReasons.TooLong, $"may not be longer than {max}", JsonValue.Create(value)));
        }

        if (schema.MinLength is { } min && length < min)
        {
            errors.Add(Invalid(path, JsonValue.Create(value), $"{path} in body should be at least {min} chars long"));
        }

        if (schema.PatternRegex is { } regex && !regex.IsMatch(value))
        {
            errors.Add(Invalid(path, JsonValue.Create(value), $"{path} in body should match '{schema.Pattern}'"));
        }

        if (schema.Format is { } format && !Formats.IsValid(format, value))
        {
            // kube-openapi reports a bad format as a type error, which also stops the CEL rules.
            errors.Add(new FieldError(path, FieldErrorReasons.TypeInvalid, $"{path} in body must be of type {format}: {FieldErrorFormat.Quote(value)}", JsonValue.Create(value)));
        }
    }

    private static void ValidateNumber(JsonValue value, SchemaNode schema, string path, List<FieldError> errors)
    {
        var number = double.Parse(value.ToJsonString(), CultureInfo.InvariantCulture);
        if (schema.Minimum is { } min && (schema.ExclusiveMinimum ? number <= min : number < min))
        {
            var relation = schema.ExclusiveMinimum ? "greater than" : "greater than or equal to";
            errors.Add(Invalid(path, value, $"{path} in body should be {relation} {Bound(min)}"));
        }

        if (schema.Maximum is { } max && (schema.ExclusiveMaximum ? number >= max : number > max))
        {
            var relation = schema.ExclusiveMaximum ? "less than" : "less than or equal to";
            errors.Add(Invalid(path, value, $"{path} in body should be {relation} {Bound(max)}"));
        }

        if (schema.Format == "int32" && (number < int.MinValue || number > int.MaxValue))
        {
            errors.Add(Invalid(path, value, $"{path} in body must be of type int32: \"{value.ToJsonString()}\""));
        }
    }

    private static string Bound(double bound) => bound.ToString("R", CultureInfo.InvariantCulture);

    private static FieldError Invalid(string path, JsonNode value, string detail) =>
        new(path, FieldErrorReasons.Invalid, detail, value.DeepClone());
}
