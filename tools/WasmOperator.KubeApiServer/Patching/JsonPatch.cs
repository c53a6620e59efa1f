using System.Globalization;
using System.Text.Json.Nodes;
using WasmOperator.KubeApiServer.Api;

namespace WasmOperator.KubeApiServer.Patching;

/// <summary>RFC 6902 JSON patch: add, remove, replace, move, copy, test.</summary>
internal static class JsonPatch
{
    public static JsonNode Apply(JsonNode target, JsonArray operations)
    {
        var document = target.DeepClone();
        foreach (var op in operations.OfType<JsonObject>())
        {
            var kind = op["op"]?.GetValue<string>() ?? throw ApiErrors.BadRequest("json patch operation has no 'op'");
            var path = op["path"]?.GetValue<string>() ?? throw ApiErrors.BadRequest("json patch operation has no 'path'");
            switch (kind)
            {
                case "add":
                    document = Add(document, path, op["value"]?.DeepClone());
                    break;
                case "remove":
                    Remove(document, path);
                    break;
                case "replace":
                    Remove(document, path);
                    document = Add(document, path, op["value"]?.DeepClone());
                    break;
                case "move":
                    var moved = Get(document, op["from"]!.GetValue<string>());
                    Remove(document, op["from"]!.GetValue<string>());
                    document = Add(document, path, moved?.DeepClone());
                    break;
                case "copy":
                    document = Add(document, path, Get(document, op["from"]!.GetValue<string>())?.DeepClone());
                    break;
                case "test":
                    if (Get(document, path)?.ToJsonString() != op["value"]?.ToJsonString())
                    {
                        throw new ApiException(422, "Invalid", $"the server rejected our request due to an error in our request: testing value {path} failed");
                    }

                    break;
                default:
                    throw ApiErrors.BadRequest($"unexpected json patch operation '{kind}'");
            }
        }

        return document;
    }

    private static string[] Tokens(string path) =>
        path.Length == 0 ? [] : [.. path[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal))];

    private static JsonNode? Get(JsonNode document, string path)
    {
        JsonNode? node = document;
        foreach (var token in Tokens(path))
        {
            node = node switch
            {
                JsonObject o => o[token],
                JsonArray a when int.TryParse(token, CultureInfo.InvariantCulture, out var i) && i < a.Count => a[i],
                _ => null,
            };
        }

        return node;
    }

    private static JsonNode Add(JsonNode document, string path, JsonNode? value)
    {
        var tokens = Tokens(path);
        if (tokens.Length == 0)
        {
            return value ?? throw ApiErrors.BadRequest("cannot replace the whole document with null");
        }

        // The parent of a top-level member ("/status") is the document itself, whose pointer is "", not "/".
        var parent = Get(document, tokens.Length == 1 ? string.Empty : "/" + string.Join('/', tokens[..^1].Select(Escape)));
        var last = tokens[^1];
        switch (parent)
        {
            case JsonObject o:
                o[last] = value;
                break;
            case JsonArray a when last == "-":
                a.Add(value);
                break;
            case JsonArray a when int.TryParse(last, CultureInfo.InvariantCulture, out var i) && i <= a.Count:
                a.Insert(i, value);
                break;
            default:
                throw new ApiException(422, "Invalid", $"the server rejected our request due to an error in our request: add operation does not apply: doc is missing path: \"{path}\"");
        }

        return document;
    }

    private static void Remove(JsonNode document, string path)
    {
        var tokens = Tokens(path);
        var parent = Get(document, tokens.Length <= 1 ? string.Empty : "/" + string.Join('/', tokens[..^1].Select(Escape)));
        var last = tokens[^1];
        var removed = parent switch
        {
            JsonObject o => o.Remove(last),
            JsonArray a when int.TryParse(last, CultureInfo.InvariantCulture, out var i) && i < a.Count => RemoveAt(a, i),
            _ => false,
        };
        if (!removed)
        {
            throw new ApiException(422, "Invalid", $"the server rejected our request due to an error in our request: remove operation does not apply: doc is missing path: \"{path}\"");
        }
    }

    private static bool RemoveAt(JsonArray array, int index)
    {
        array.RemoveAt(index);
        return true;
    }

    private static string Escape(string token) => token.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}
