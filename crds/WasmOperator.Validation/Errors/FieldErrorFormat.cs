using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace WasmOperator.Validation;

/// <summary>Words field errors the way k8s.io/apimachinery/pkg/util/validation/field does.</summary>
internal static class FieldErrorFormat
{
    public static string Body(FieldError error)
    {
        string head;
        var withValue = false;
        switch (error.Reason)
        {
            case FieldErrorReasons.Required: head = "Required value"; break;
            case FieldErrorReasons.Forbidden: head = "Forbidden"; break;
            case FieldErrorReasons.TooLong: head = "Too long"; break;
            case FieldErrorReasons.Internal: head = "Internal error"; break;
            case FieldErrorReasons.TooMany: head = "Too many"; withValue = true; break;
            case FieldErrorReasons.NotSupported: head = "Unsupported value"; withValue = true; break;
            case FieldErrorReasons.Duplicate: head = "Duplicate value"; withValue = true; break;
            case FieldErrorReasons.NotFound: head = "Not found"; withValue = true; break;
            default: head = "Invalid value"; withValue = true; break;
        }

        var body = withValue ? $"{head}: {Value(error.BadValue)}" : head;
        return error.Detail.Length == 0 ? body : $"{body}: {error.Detail}";
    }

    /// <summary>Go's rendering: strings quoted, numbers and booleans bare, the rest as %#v.</summary>
    public static string Value(JsonNode? value)
    {
        if (value is null)
        {
            return "\"null\"";
        }

        if (value is JsonValue scalar)
        {
            return scalar.GetValueKind() switch
            {
                JsonValueKind.String => Quote(scalar.GetValue<string>()),
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                JsonValueKind.Number => Number(scalar),
                _ => "\"null\"",
            };
        }

        var sb = new StringBuilder();
        GoSyntax(value, sb);
        return sb.ToString();
    }

    public static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2);
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < ' ')
                    {
                        sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        return sb.Append('"').ToString();
    }

    private static string Number(JsonValue value)
    {
        if (value.TryGetValue<long>(out var l))
        {
            return l.ToString(CultureInfo.InvariantCulture);
        }

        var text = value.ToJsonString();
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out l)
            ? l.ToString(CultureInfo.InvariantCulture)
            : double.Parse(text, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture);
    }

    private static void GoSyntax(JsonNode? node, StringBuilder sb)
    {
        switch (node)
        {
            case JsonObject obj:
                sb.Append("map[string]interface {}{");
                var first = true;
                foreach (var (key, child) in obj.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    if (!first)
                    {
                        sb.Append(", ");
                    }

                    first = false;
                    sb.Append(Quote(key)).Append(':');
                    GoSyntax(child, sb);
                }

                sb.Append('}');
                break;
            case JsonArray array:
                sb.Append("[]interface {}{");
                for (var i = 0; i < array.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }

                    GoSyntax(array[i], sb);
                }

                sb.Append('}');
                break;
            case null:
                sb.Append("interface {}(nil)");
                break;
            default:
                sb.Append(Value(node));
                break;
        }
    }
}
