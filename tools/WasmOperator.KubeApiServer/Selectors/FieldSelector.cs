using System.Text.Json.Nodes;
using WasmOperator.KubeApiServer.Tables;

namespace WasmOperator.KubeApiServer.Selectors;

/// <summary>
/// A field selector: <c>metadata.name=x,metadata.namespace!=y</c>. Any dotted path into the object is accepted
/// (kube-apiserver allows a per-kind list, e.g. involvedObject.* for events, type for secrets).
/// </summary>
internal sealed class FieldSelector
{
    private readonly List<(string[] Path, string Value, bool Equal)> _terms;

    private FieldSelector(List<(string[] Path, string Value, bool Equal)> terms) => _terms = terms;

    public static FieldSelector Everything { get; } = new([]);

    public static FieldSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }

        var terms = new List<(string[], string, bool)>();
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var part = raw.Trim();
            var op = part.Contains("!=", StringComparison.Ordinal) ? "!=" : part.Contains("==", StringComparison.Ordinal) ? "==" : "=";
            var at = part.IndexOf(op, StringComparison.Ordinal);
            if (at <= 0)
            {
                throw Api.ApiErrors.BadRequest($"invalid field selector: '{part}'");
            }

            terms.Add((part[..at].Trim().Split('.'), part[(at + op.Length)..].Trim(), op != "!="));
        }

        return new FieldSelector(terms);
    }

    public bool Matches(JsonObject obj)
    {
        foreach (var (path, value, equal) in _terms)
        {
            JsonNode? node = obj;
            foreach (var segment in path)
            {
                node = node is JsonObject o ? o[segment] : null;
            }

            var actual = node is null ? string.Empty : JsonPathExpression.ScalarText(node);
            if ((actual == value) != equal)
            {
                return false;
            }
        }

        return true;
    }
}
