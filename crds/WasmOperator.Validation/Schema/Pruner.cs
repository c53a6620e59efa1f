using System.Text.Json.Nodes;

namespace WasmOperator.Validation.Schema;

/// <summary>
/// Drops fields the schema does not declare, like kube-apiserver's structural pruning,
/// and then applies defaults, like its structural defaulting.
/// </summary>
internal static class Pruner
{
    private static readonly string[] EmbeddedFields = ["apiVersion", "kind", "metadata"];

    public static void Prune(JsonNode? node, SchemaNode schema, bool isRoot)
    {
        switch (node)
        {
            case JsonObject obj:
                var keys = obj.Select(p => p.Key).ToList();
                foreach (var key in keys)
                {
                    if (key == "metadata" && (isRoot || schema.EmbeddedResource))
                    {
                        // ObjectMeta belongs to the API server, not to the CRD schema: never pruned.
                        continue;
                    }

                    if (schema.Properties.TryGetValue(key, out var property))
                    {
                        Prune(obj[key], property, false);
                    }
                    else if (schema.AdditionalProperties is { } additional)
                    {
                        Prune(obj[key], additional, false);
                    }
                    else if (!schema.PreserveUnknownFields && !IsKeptMetaField(key, schema, isRoot))
                    {
                        obj.Remove(key);
                    }
                }

                break;
            case JsonArray array when schema.Items is { } items:
                foreach (var item in array)
                {
                    Prune(item, items, false);
                }

                break;
            default:
                break;
        }
    }

    /// <summary>Defaults missing fields and drops nulls the schema does not allow (kube: non-nullable nulls without default).</summary>
    public static void Default(JsonNode? node, SchemaNode schema)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, property) in schema.Properties)
                {
                    var present = obj.TryGetPropertyValue(name, out var value);
                    if (present && value is not null)
                    {
                        continue;
                    }

                    if (property.HasDefault && (!present || !property.Nullable))
                    {
                        obj[name] = property.Default!.DeepClone();
                    }
                    else if (present && !property.Nullable)
                    {
                        obj.Remove(name);
                    }
                }

                foreach (var (key, value) in obj.ToList())
                {
                    if (schema.Properties.TryGetValue(key, out var property))
                    {
                        Default(value, property);
                    }
                    else if (schema.AdditionalProperties is { } additional)
                    {
                        Default(value, additional);
                    }
                }

                break;
            case JsonArray array when schema.Items is { } items:
                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is null && items.HasDefault)
                    {
                        array[i] = items.Default!.DeepClone();
                    }

                    Default(array[i], items);
                }

                break;
            default:
                break;
        }
    }

    private static bool IsKeptMetaField(string key, SchemaNode schema, bool isRoot) =>
        (isRoot || schema.EmbeddedResource) && EmbeddedFields.Contains(key);
}
