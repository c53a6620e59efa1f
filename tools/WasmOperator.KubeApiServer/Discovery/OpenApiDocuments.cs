using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using WasmOperator.KubeApiServer.Resources;

namespace WasmOperator.KubeApiServer.Discovery;

/// <summary>
/// The OpenAPI v3 documents kubectl reads: the group-version index, and per group-version the PATCH operations
/// tagged with their GVK and the <c>fieldValidation</c> parameter, so kubectl leaves validation to the server.
/// Only custom resources' schemas are published (for kubectl explain); kubectl builds strategic merge patches
/// for built-in kinds from its compiled-in types.
/// </summary>
internal static class OpenApiDocuments
{
    public static JsonObject Index(IReadOnlyList<ResourceType> types)
    {
        var paths = new JsonObject();
        foreach (var (group, version) in GroupVersions(types))
        {
            var key = Prefix(group, version);
            paths[key] = new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/{key}?hash={Hash(group, version, types)}" };
        }

        return new JsonObject { ["paths"] = paths };
    }

    public static JsonObject? GroupVersion(string prefix, IReadOnlyList<ResourceType> types)
    {
        var match = GroupVersions(types).FirstOrDefault(gv => Prefix(gv.Group, gv.Version) == prefix);
        if (match == default)
        {
            return null;
        }

        var (group, version) = match;
        var paths = new JsonObject();
        var schemas = new JsonObject();
        foreach (var type in types.Where(t => t.Group == match.Group && t.Versions.Contains(match.Version)))
        {
            if (type.Schemas.TryGetValue(version, out var schema))
            {
                // kubectl explain finds a kind by this extension; the PATCH operations carry no request body, so
                // kubectl apply still uses a JSON merge patch for custom resources, as it does against kube-apiserver.
                var published = (JsonObject)schema.DeepClone();
                published["x-kubernetes-group-version-kind"] = new JsonArray(new JsonObject { ["group"] = group, ["version"] = version, ["kind"] = type.Kind });
                schemas[SchemaName(type, version)] = published;
            }

            var scope = type.Namespaced ? "/namespaces/{namespace}" : string.Empty;
            var item = $"/{prefix}{scope}/{type.Plural}/{{name}}";
            paths[item] = new JsonObject { ["patch"] = PatchOperation(type, version) };
            if (type.HasStatusSubresource)
            {
                paths[item + "/status"] = new JsonObject { ["patch"] = PatchOperation(type, version) };
            }
        }

        return new JsonObject
        {
            ["openapi"] = "3.0.0",
            ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = "v1.32.0" },
            ["paths"] = paths,
            ["components"] = new JsonObject { ["schemas"] = schemas },
        };

        JsonObject PatchOperation(ResourceType type, string v) => new()
        {
            ["operationId"] = $"patch{type.Kind}",
            ["parameters"] = new JsonArray(
                new JsonObject { ["name"] = "fieldValidation", ["in"] = "query", ["schema"] = new JsonObject { ["type"] = "string" } },
                new JsonObject { ["name"] = "fieldManager", ["in"] = "query", ["schema"] = new JsonObject { ["type"] = "string" } },
                new JsonObject { ["name"] = "force", ["in"] = "query", ["schema"] = new JsonObject { ["type"] = "boolean" } }),
            ["responses"] = new JsonObject { ["200"] = new JsonObject { ["description"] = "OK" } },
            ["x-kubernetes-action"] = "patch",
            ["x-kubernetes-group-version-kind"] = new JsonObject { ["group"] = group, ["version"] = v, ["kind"] = type.Kind },
        };
    }

    private static string SchemaName(ResourceType type, string version) =>
        string.Join('.', type.Group.Split('.').Reverse()) + $".{version}.{type.Kind}";

    private static string Prefix(string group, string version) => group.Length == 0 ? $"api/{version}" : $"apis/{group}/{version}";

    private static List<(string Group, string Version)> GroupVersions(IReadOnlyList<ResourceType> types) =>
        [.. types.SelectMany(t => t.Versions.Select(v => (t.Group, v))).Distinct()];

    private static string Hash(string group, string version, IReadOnlyList<ResourceType> types)
    {
        var text = string.Join(",", types.Where(t => t.Group == group && t.Versions.Contains(version))
            .Select(t => $"{t.Plural}:{t.Kind}:{t.HasStatusSubresource}:{(t.Schemas.TryGetValue(version, out var s) ? s.ToJsonString() : string.Empty)}"));
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }
}
