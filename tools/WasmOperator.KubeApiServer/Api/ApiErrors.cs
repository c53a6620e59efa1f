using System.Text.Json.Nodes;
using WasmOperator.KubeApiServer.Resources;

namespace WasmOperator.KubeApiServer.Api;

/// <summary>The error Status bodies kube-apiserver sends, worded as it words them.</summary>
internal static class ApiErrors
{
    public static ApiException NotFound(ResourceType type, string name) =>
        new(404, "NotFound", $"{type.QualifiedName} \"{name}\" not found", Details(type, name));

    public static ApiException NamespaceNotFound(string ns) =>
        new(404, "NotFound", $"namespaces \"{ns}\" not found", new JsonObject { ["name"] = ns, ["kind"] = "namespaces" });

    public static ApiException AlreadyExists(ResourceType type, string name) =>
        new(409, "AlreadyExists", $"{type.QualifiedName} \"{name}\" already exists", Details(type, name));

    public static ApiException Conflict(ResourceType type, string name) =>
        new(
            409,
            "Conflict",
            $"Operation cannot be fulfilled on {type.QualifiedName} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            Details(type, name));

    public static ApiException Forbidden(ResourceType type, string name, string why) =>
        new(403, "Forbidden", $"{type.QualifiedName} \"{name}\" is forbidden: {why}", Details(type, name));

    public static ApiException BadRequest(string message) => new(400, "BadRequest", message);

    public static ApiException PageNotFound() =>
        new(404, "NotFound", "the server could not find the requested resource", new JsonObject());

    public static ApiException MethodNotAllowed(string verb) =>
        new(405, "MethodNotAllowed", $"the server does not allow this method on the requested resource ({verb})", new JsonObject());

    public static ApiException UnsupportedMediaType(string contentType) =>
        new(415, "UnsupportedMediaType", $"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {contentType})");

    public static ApiException Expired(string message) => new(410, "Expired", message);

    public static ApiException Invalid(ResourceType type, string name, IReadOnlyList<(string Field, string Reason, string Message)> causes)
    {
        var details = Details(type, name);
        details["kind"] = type.Kind;
        var list = new JsonArray();
        foreach (var (field, reason, message) in causes)
        {
            list.Add(new JsonObject { ["reason"] = reason, ["message"] = message, ["field"] = field });
        }

        details["causes"] = list;
        var summary = string.Join(", ", causes.Select(c => c.Message.StartsWith(c.Field, StringComparison.Ordinal) ? c.Message : $"{c.Field}: {c.Message}"));
        var kind = type.Group.Length == 0 ? type.Kind : $"{type.Kind}.{type.Group}";
        var body = causes.Count == 1 ? summary : $"[{summary}]";
        return new ApiException(422, "Invalid", $"{kind} \"{name}\" is invalid: {body}", details);
    }

    private static JsonObject Details(ResourceType type, string name)
    {
        var details = new JsonObject { ["name"] = name };
        if (type.Group.Length > 0)
        {
            details["group"] = type.Group;
        }

        details["kind"] = type.Plural;
        return details;
    }
}
