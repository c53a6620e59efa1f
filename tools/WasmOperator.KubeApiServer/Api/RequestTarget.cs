using WasmOperator.KubeApiServer.Resources;

namespace WasmOperator.KubeApiServer.Api;

/// <summary>A parsed resource URL: /api/v1[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]] or its /apis/{group} form.</summary>
internal sealed record RequestTarget(ResourceType Type, string Version, string? Namespace, string? Name, string? Subresource)
{
    public static RequestTarget? Parse(string group, string version, string[] rest, ResourceCatalog catalog)
    {
        string? ns = null;
        if (rest.Length >= 3 && rest[0] == "namespaces" && catalog.Find(group, version, rest[2]) is { Namespaced: true })
        {
            ns = rest[1];
            rest = rest[2..];
        }

        var type = catalog.Find(group, version, rest[0]);
        if (type is null || rest.Length > 3)
        {
            return null;
        }

        return new RequestTarget(type, version, ns, rest.Length > 1 ? rest[1] : null, rest.Length > 2 ? rest[2] : null);
    }
}
