using System.Text.Json.Nodes;
using WasmOperator.KubeApiServer.Api;

namespace WasmOperator.KubeApiServer.Selectors;

/// <summary>A label selector in its query-string form: <c>a=b,c!=d,e in (x,y),f notin (z),g,!h</c>.</summary>
internal sealed class LabelSelector
{
    private readonly List<Func<IReadOnlyDictionary<string, string>, bool>> _requirements;

    private LabelSelector(List<Func<IReadOnlyDictionary<string, string>, bool>> requirements) => _requirements = requirements;

    public static LabelSelector Everything { get; } = new([]);

    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }

        var requirements = new List<Func<IReadOnlyDictionary<string, string>, bool>>();
        foreach (var raw in SplitTopLevel(text))
        {
            var part = raw.Trim();
            var inIndex = IndexOfWord(part, " in ");
            var notInIndex = IndexOfWord(part, " notin ");
            if (notInIndex > 0)
            {
                var key = part[..notInIndex].Trim();
                var values = ParseSet(part[(notInIndex + 7)..]);
                requirements.Add(labels => !labels.TryGetValue(key, out var v) || !values.Contains(v));
            }
            else if (inIndex > 0)
            {
                var key = part[..inIndex].Trim();
                var values = ParseSet(part[(inIndex + 4)..]);
                requirements.Add(labels => labels.TryGetValue(key, out var v) && values.Contains(v));
            }
            else if (part.Contains("!=", StringComparison.Ordinal))
            {
                var (key, value) = Split(part, "!=");
                requirements.Add(labels => !labels.TryGetValue(key, out var v) || v != value);
            }
            else if (part.Contains("==", StringComparison.Ordinal))
            {
                var (key, value) = Split(part, "==");
                requirements.Add(labels => labels.TryGetValue(key, out var v) && v == value);
            }
            else if (part.Contains('=', StringComparison.Ordinal))
            {
                var (key, value) = Split(part, "=");
                requirements.Add(labels => labels.TryGetValue(key, out var v) && v == value);
            }
            else if (part.StartsWith('!'))
            {
                var key = part[1..].Trim();
                requirements.Add(labels => !labels.ContainsKey(key));
            }
            else if (part.Length > 0)
            {
                requirements.Add(labels => labels.ContainsKey(part));
            }
        }

        return new LabelSelector(requirements);
    }

    public bool Matches(JsonObject obj)
    {
        if (_requirements.Count == 0)
        {
            return true;
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (obj["metadata"]?["labels"] is JsonObject map)
        {
            foreach (var (key, value) in map)
            {
                labels[key] = value?.ToString() ?? string.Empty;
            }
        }

        return _requirements.TrueForAll(r => r(labels));
    }

    private static (string Key, string Value) Split(string part, string op)
    {
        var at = part.IndexOf(op, StringComparison.Ordinal);
        return (part[..at].Trim(), part[(at + op.Length)..].Trim());
    }

    private static int IndexOfWord(string part, string word) => part.IndexOf(word, StringComparison.Ordinal);

    private static HashSet<string> ParseSet(string text)
    {
        var trimmed = text.Trim();
        if (!trimmed.StartsWith('(') || !trimmed.EndsWith(')'))
        {
            throw ApiErrors.BadRequest($"unable to parse requirement: found '{trimmed}', expected: '('");
        }

        return [.. trimmed[1..^1].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];
    }

    private static List<string> SplitTopLevel(string text)
    {
        var parts = new List<string>();
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '(':
                    depth++;
                    break;
                case ')':
                    depth--;
                    break;
                case ',' when depth == 0:
                    parts.Add(text[start..i]);
                    start = i + 1;
                    break;
                default:
                    break;
            }
        }

        parts.Add(text[start..]);
        return parts;
    }
}
