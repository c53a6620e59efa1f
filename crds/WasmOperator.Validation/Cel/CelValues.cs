using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using WasmOperator.Validation.Schema;

namespace WasmOperator.Validation.Cel;

/// <summary>Converts JSON to CEL values and implements CEL's operators on them.</summary>
internal static class CelValues
{
    /// <summary>Converts a JSON node to a CEL value, using the schema for integer vs double and durations/timestamps.</summary>
    public static object? FromJson(JsonNode? node, SchemaNode? schema)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonObject obj:
                var map = new Dictionary<string, object?>(obj.Count, StringComparer.Ordinal);
                foreach (var (key, value) in obj)
                {
                    var child = schema is null ? null
                        : schema.Properties.TryGetValue(key, out var p) ? p : schema.AdditionalProperties;
                    map[key] = FromJson(value, child);
                }

                return map;
            case JsonArray array:
                return array.Select(item => FromJson(item, schema?.Items)).ToList();
            case JsonValue value:
                switch (value.GetValueKind())
                {
                    case JsonValueKind.String:
                        var s = value.GetValue<string>();
                        if (schema?.Format == "duration" && GoDuration.TryParse(s, out var d))
                        {
                            return d;
                        }

                        if (schema?.Format == "date-time" && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var t))
                        {
                            return t;
                        }

                        return s;
                    case JsonValueKind.True:
                        return true;
                    case JsonValueKind.False:
                        return false;
                    case JsonValueKind.Number:
                        var text = value.ToJsonString();
                        if (schema?.Type != "number" && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l))
                        {
                            return l;
                        }

                        return double.Parse(text, CultureInfo.InvariantCulture);
                    default:
                        return null;
                }

            default:
                return null;
        }
    }

    public static string TypeName(object? value) => value switch
    {
        null => "null_type",
        bool => "bool",
        long => "int",
        double => "double",
        string => "string",
        TimeSpan => "google.protobuf.Duration",
        DateTimeOffset => "google.protobuf.Timestamp",
        List<object?> => "list",
        Dictionary<string, object?> => "map",
        _ => value.GetType().Name,
    };

    public static bool Equal(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (null, _) or (_, null) => false,
        (long x, long y) => x == y,
        (long x, double y) => x == y,
        (double x, long y) => x == y,
        (double x, double y) => x == y,
        (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => Equal(p.First, p.Second)),
        (Dictionary<string, object?> x, Dictionary<string, object?> y) =>
            x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var v) && Equal(kv.Value, v)),
        _ => a.GetType() == b.GetType() && a.Equals(b),
    };

    public static int Compare(object? a, object? b) => (a, b) switch
    {
        (long x, long y) => x.CompareTo(y),
        (long x, double y) => ((double)x).CompareTo(y),
        (double x, long y) => x.CompareTo(y),
        (double x, double y) => x.CompareTo(y),
        (string x, string y) => string.CompareOrdinal(x, y),
        (bool x, bool y) => x.CompareTo(y),
        (TimeSpan x, TimeSpan y) => x.CompareTo(y),
        (DateTimeOffset x, DateTimeOffset y) => x.CompareTo(y),
        _ => throw new CelException($"no such overload: {TypeName(a)} < {TypeName(b)}"),
    };

    public static object? Binary(string op, object? l, object? r)
    {
        switch (op)
        {
            case "==": return Equal(l, r);
            case "!=": return !Equal(l, r);
            case "<": return Compare(l, r) < 0;
            case "<=": return Compare(l, r) <= 0;
            case ">": return Compare(l, r) > 0;
            case ">=": return Compare(l, r) >= 0;
            case "in":
                return r switch
                {
                    List<object?> list => list.Exists(item => Equal(item, l)),
                    Dictionary<string, object?> map => l is string key && map.ContainsKey(key),
                    _ => throw new CelException($"no such overload: {TypeName(l)} in {TypeName(r)}"),
                };
            default:
                return Arithmetic(op, l, r);
        }
    }

    private static object? Arithmetic(string op, object? l, object? r)
    {
        try
        {
            return (op, l, r) switch
            {
                ("+", long x, long y) => checked(x + y),
                ("-", long x, long y) => checked(x - y),
                ("*", long x, long y) => checked(x * y),
                ("/", long _, 0L) => throw new CelException("division by zero"),
                ("/", long x, long y) => x / y,
                ("%", long _, 0L) => throw new CelException("modulus by zero"),
                ("%", long x, long y) => x % y,
                ("+", double x, double y) => x + y,
                ("-", double x, double y) => x - y,
                ("*", double x, double y) => x * y,
                ("/", double x, double y) => x / y,
                ("+", string x, string y) => x + y,
                ("+", List<object?> x, List<object?> y) => x.Concat(y).ToList(),
                ("+", TimeSpan x, TimeSpan y) => x + y,
                ("-", TimeSpan x, TimeSpan y) => x - y,
                ("+", DateTimeOffset x, TimeSpan y) => x + y,
                ("+", TimeSpan x, DateTimeOffset y) => y + x,
                ("-", DateTimeOffset x, TimeSpan y) => x - y,
                ("-", DateTimeOffset x, DateTimeOffset y) => x - y,
                _ => throw new CelException($"no such overload: {TypeName(l)} {op} {TypeName(r)}"),
            };
        }
        catch (OverflowException)
        {
            throw new CelException("integer overflow");
        }
    }
}
