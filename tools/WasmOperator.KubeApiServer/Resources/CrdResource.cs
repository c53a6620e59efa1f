using System.Text.Json;
using System.Text.Json.Nodes;
using WasmOperator.KubeApiServer.Tables;
using WasmOperator.KubeApiServer.Validation;

namespace WasmOperator.KubeApiServer.Resources;

/// <summary>Reads an apiextensions.k8s.io/v1 CustomResourceDefinition into a served <see cref="ResourceType"/>.</summary>
internal static class CrdResource
{
    public static ResourceType FromCrd(JsonObject crd, Func<JsonObject, string, ISchemaValidator?> validatorFactory)
    {
        var spec = crd["spec"] as JsonObject ?? throw new FormatException("CRD has no spec");
        var names = spec["names"] as JsonObject ?? throw new FormatException("CRD has no spec.names");
        var versions = (spec["versions"] as JsonArray ?? [])
            .OfType<JsonObject>()
            .Where(v => v["served"]?.GetValue<bool>() ?? true)
            .OrderByDescending(v => v["storage"]?.GetValue<bool>() ?? false)
            .ToList();
        if (versions.Count == 0)
        {
            throw new FormatException("CRD serves no version");
        }

        var storage = versions[0];
        var validators = new Dictionary<string, ISchemaValidator>(StringComparer.Ordinal);
        var schemas = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var version in versions)
        {
            var name = version["name"]!.GetValue<string>();
            if (version["schema"]?["openAPIV3Schema"] is JsonObject schema)
            {
                schemas[name] = (JsonObject)schema.DeepClone();
            }

            if (validatorFactory(crd, name) is { } validator)
            {
                validators[name] = validator;
            }
        }

        var plural = names["plural"]!.GetValue<string>();
        return new ResourceType
        {
            Group = spec["group"]!.GetValue<string>(),
            Versions = [.. versions.Select(v => v["name"]!.GetValue<string>())],
            Plural = plural,
            Singular = names["singular"]?.GetValue<string>() ?? plural,
            Kind = names["kind"]!.GetValue<string>(),
            Namespaced = (spec["scope"]?.GetValue<string>() ?? "Namespaced") == "Namespaced",
            ShortNames = Strings(names["shortNames"]),
            Categories = Strings(names["categories"]),
            HasStatusSubresource = storage["subresources"]?["status"] is not null,
            TracksGeneration = true,
            IsCustom = true,
            Columns = Columns(storage["additionalPrinterColumns"] as JsonArray),
            Validators = validators,
            Schemas = schemas,
        };
    }

    private static string[] Strings(JsonNode? node) =>
        node is JsonArray array ? [.. array.Select(n => n!.GetValue<string>())] : [];

    private static List<PrinterColumn> Columns(JsonArray? declared)
    {
        var columns = new List<PrinterColumn>
        {
            new("Name", "string", "name", "Name must be unique within a namespace.", 0, o => o["metadata"]?["name"]?.DeepClone()),
        };
        if (declared is null)
        {
            columns.Add(DateColumn("Age", ".metadata.creationTimestamp", "CreationTimestamp", 0));
            return columns;
        }

        foreach (var column in declared.OfType<JsonObject>())
        {
            var name = column["name"]!.GetValue<string>();
            var type = column["type"]?.GetValue<string>() ?? "string";
            var path = column["jsonPath"]!.GetValue<string>();
            var description = column["description"]?.GetValue<string>() ?? string.Empty;
            var priority = column["priority"]?.GetValue<int>() ?? 0;
            if (type == "date")
            {
                columns.Add(DateColumn(name, path, description, priority));
                continue;
            }

            var expression = JsonPathExpression.Parse(path);
            columns.Add(new(name, type, column["format"]?.GetValue<string>() ?? string.Empty, description, priority, o => Cell(expression.Evaluate(o), type)));
        }

        return columns;
    }

    public static PrinterColumn DateColumn(string name, string path, string description, int priority)
    {
        var expression = JsonPathExpression.Parse(path);
        return new(name, "date", string.Empty, description, priority, o =>
        {
            var found = expression.Evaluate(o);
            return found.Count == 0 ? null : HumanDuration.Since(JsonPathExpression.ScalarText(found[0]), DateTimeOffset.UtcNow);
        });
    }

    private static JsonNode? Cell(List<JsonNode> found, string type)
    {
        if (found.Count == 0)
        {
            return null;
        }

        if (found.Count > 1)
        {
            return string.Join(",", found.Select(JsonPathExpression.ScalarText));
        }

        var node = found[0];
        return type switch
        {
            "integer" or "number" or "boolean" when node is JsonValue v && v.GetValueKind() != JsonValueKind.String => node.DeepClone(),
            _ => JsonPathExpression.ScalarText(node),
        };
    }
}
