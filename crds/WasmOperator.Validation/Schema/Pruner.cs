using System.Text.Json.Nodes;

namespace WasmOperator.Validation.Schema;

/// <summary>
/// Drops fields the schema does not declare, like kube-apiserver's structural pruning,
/// and then applies defaults, like its structural defaulting.
/// </summary>
internal static class Pruner
{
    private static readonly string[] EmbeddedFields = ["apiVersion", "kind", "metadata"];

    /// <summary>
    /// Removes the fields <paramref name="schema"/> does not declare and, when <paramref name="pruned"/> is given,
    /// collects their paths as kube's <c>ReturnPruned</c> does: keys joined by dots, indexes in brackets
    /// (e.g. <c>spec.vmConfig.env[0].valu</c>), relative to <paramref name="path"/>. fieldValidation=Strict refuses
    /// a write over these, Warn returns them as warnings.
    /// </summary>
    public static void Prune(JsonNode? node, SchemaNode schema, bool isRoot, List<string>? pruned = null, string path = "")
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
                        Prune(obj[key], property, false, pruned, FieldPath.Child(path, key));
                    }
                    else if (schema.AdditionalProperties is { } additional)
                    {
                        // A map key reads as a field in kube's pruned paths (spec.labels.app), not as [app].
                        Prune(obj[key], additional, false, pruned, FieldPath.Child(path, key));
                    }
                    else if (!schema.PreserveUnknownFields && !IsKeptMetaField(key, schema, isRoot))
                    {
                        obj.Remove(key);
                        pruned?.Add(FieldPath.Child(path, key));
                    }
                }

                break;
            case JsonArray array when schema.Items is { } items:
                for (var i = 0; i < array.Count; i++)
                {
                    Prune(array[i], items, false, pruned, FieldPath.Index(path, i));
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
