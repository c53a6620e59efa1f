using System.Text.Json;
using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Tables;

/// <summary>
/// The JSONPath subset additionalPrinterColumns use: <c>.a.b</c>, <c>.a[0]</c>, <c>.a[*].b</c>,
/// <c>.a[?(@.type=="Ready")].status</c>, optionally wrapped in <c>{}</c>.
/// </summary>
internal sealed class JsonPathExpression
{
    private readonly List<Step> _steps;

    private JsonPathExpression(List<Step> steps) => _steps = steps;

    public static JsonPathExpression Parse(string path)
    {
        var text = path.Trim();
        if (text.StartsWith('{') && text.EndsWith('}'))
        {
            text = text[1..^1];
        }

        if (text.StartsWith('$'))
        {
            text = text[1..];
        }

        var steps = new List<Step>();
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] == '.')
            {
                i++;
                var start = i;
                while (i < text.Length && text[i] != '.' && text[i] != '[')
                {
                    i++;
                }

                if (i > start)
                {
                    steps.Add(new Step(StepKind.Field, text[start..i], null, null));
                }
            }
            else if (text[i] == '[')
            {
                var end = FindClosingBracket(text, i);
                var inner = text[(i + 1)..end].Trim();
                i = end + 1;
                if (inner == "*")
                {
                    steps.Add(new Step(StepKind.All, null, null, null));
                }
                else if (inner.StartsWith("?(", StringComparison.Ordinal) && inner.EndsWith(')'))
                {
                    var filter = inner[2..^1];
                    var eq = filter.IndexOf("==", StringComparison.Ordinal);
                    if (eq < 0 || !filter.StartsWith("@.", StringComparison.Ordinal))
                    {
                        throw new FormatException($"unsupported JSONPath filter '{inner}' in '{path}'");
                    }

                    var field = filter[2..eq].Trim();
                    var value = filter[(eq + 2)..].Trim().Trim('"', '\'');
                    steps.Add(new Step(StepKind.Filter, field, value, null));
                }
                else if (int.TryParse(inner, out var index))
                {
                    steps.Add(new Step(StepKind.Index, null, null, index));
                }
                else
                {
                    steps.Add(new Step(StepKind.Field, inner.Trim('\'', '"'), null, null));
                }
            }
            else
            {
                throw new FormatException($"unexpected '{text[i]}' at {i} in JSONPath '{path}'");
            }
        }

        return new JsonPathExpression(steps);
    }

    public List<JsonNode> Evaluate(JsonNode? root)
    {
        var current = new List<JsonNode>();
        if (root is not null)
        {
            current.Add(root);
        }

        foreach (var step in _steps)
        {
            var next = new List<JsonNode>();
            foreach (var node in current)
            {
                switch (step.Kind)
                {
                    case StepKind.Field when node is JsonObject obj && obj[step.Name!] is { } child:
                        next.Add(child);
                        break;
                    case StepKind.Index when node is JsonArray arr:
                        var idx = step.Index!.Value < 0 ? arr.Count + step.Index.Value : step.Index.Value;
                        if (idx >= 0 && idx < arr.Count && arr[idx] is { } item)
                        {
                            next.Add(item);
                        }

                        break;
                    case StepKind.All when node is JsonArray all:
                        next.AddRange(all.Where(e => e is not null)!);
                        break;
                    case StepKind.All when node is JsonObject allObj:
                        next.AddRange(allObj.Select(p => p.Value).Where(e => e is not null)!);
                        break;
                    case StepKind.Filter when node is JsonArray candidates:
                        foreach (var candidate in candidates)
                        {
                            if (candidate is JsonObject c && c[step.Name!] is JsonValue v && ScalarText(v) == step.Value)
                            {
                                next.Add(candidate);
                            }
                        }

                        break;
                    default:
                        break;
                }
            }

            current = next;
        }

        return current;
    }

    public static string ScalarText(JsonNode node) => node is JsonValue value && value.GetValueKind() == JsonValueKind.String
        ? value.GetValue<string>()
        : node.ToJsonString();

    private static int FindClosingBracket(string text, int open)
    {
        var depth = 0;
        for (var j = open; j < text.Length; j++)
        {
            if (text[j] == '[')
            {
                depth++;
            }
            else if (text[j] == ']' && --depth == 0)
            {
                return j;
            }
        }

        throw new FormatException($"unclosed '[' in JSONPath '{text}'");
    }

    private enum StepKind
    {
        Field,
        Index,
        All,
        Filter,
    }

    private sealed record Step(StepKind Kind, string? Name, string? Value, int? Index);
}
