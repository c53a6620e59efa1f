using System.Text.Json.Nodes;
using WasmOperator.KubeApiServer.Resources;

namespace WasmOperator.KubeApiServer.Tables;

/// <summary>Builds meta.k8s.io/v1 Table responses (what <c>kubectl get</c> prints) from a resource's printer columns.</summary>
internal static class TableBuilder
{
    public static bool Wants(string? accept) => accept is not null && accept.Contains("as=Table", StringComparison.Ordinal);

    public static JsonObject Build(ResourceType type, IEnumerable<JsonObject> objects, string resourceVersion, string? continueToken, bool includeObject, bool withColumns = true)
    {
        var definitions = new JsonArray();
        if (withColumns)
        {
            foreach (var column in type.Columns)
            {
                definitions.Add(new JsonObject
                {
                    ["name"] = column.Name,
                    ["type"] = column.Type == "date" ? "string" : column.Type,
                    ["format"] = column.Format,
                    ["description"] = column.Description,
                    ["priority"] = column.Priority,
                });
            }
        }

        var rows = new JsonArray();
        foreach (var obj in objects)
        {
            var cells = new JsonArray();
            foreach (var column in type.Columns)
            {
                cells.Add(column.Cell(obj)?.DeepClone() ?? "<none>");
            }

            rows.Add(new JsonObject
            {
                ["cells"] = cells,
                ["object"] = includeObject ? obj.DeepClone() : PartialMetadata(obj),
            });
        }

        var metadata = new JsonObject { ["resourceVersion"] = resourceVersion };
        if (continueToken is not null)
        {
            metadata["continue"] = continueToken;
        }

        return new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = metadata,
            ["columnDefinitions"] = definitions,
            ["rows"] = rows,
        };
    }

    private static JsonObject PartialMetadata(JsonObject obj) => new()
    {
        ["kind"] = "PartialObjectMetadata",
        ["apiVersion"] = "meta.k8s.io/v1",
        ["metadata"] = obj["metadata"]?.DeepClone(),
    };
}
