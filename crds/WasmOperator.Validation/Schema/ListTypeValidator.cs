using System.Text.Json.Nodes;

namespace WasmOperator.Validation.Schema;

/// <summary>Enforces <c>x-kubernetes-list-type: set|map</c> uniqueness, like kube's structurallisttype package.</summary>
internal static class ListTypeValidator
{
    public static void Validate(JsonNode? node, SchemaNode schema, string path, List<FieldError> errors)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj)
                {
                    if (schema.Properties.TryGetValue(key, out var property))
                    {
                        Validate(value, property, FieldPath.Child(path, key), errors);
                    }
                    else if (schema.AdditionalProperties is { } additional)
                    {
                        Validate(value, additional, FieldPath.Key(path, key), errors);
                    }
                }

                break;
            case JsonArray array:
                CheckUniqueness(array, schema, path, errors);
                if (schema.Items is { } items)
                {
                    for (var i = 0; i < array.Count; i++)
                    {
                        Validate(array[i], items, FieldPath.Index(path, i), errors);
                    }
                }

                break;
            default:
                break;
        }
    }

    private static void CheckUniqueness(JsonArray array, SchemaNode schema, string path, List<FieldError> errors)
    {
        if (schema.ListType == "set")
        {
            for (var i = 0; i < array.Count; i++)
            {
                for (var j = 0; j < i; j++)
                {
                    if (JsonNode.DeepEquals(array[i], array[j]))
                    {
                        errors.Add(new FieldError(FieldPath.Index(path, i), FieldErrorReasons.Duplicate, string.Empty, array[i]?.DeepClone()));
                        break;
                    }
                }
            }
        }
        else if (schema.ListType == "map" && schema.ListMapKeys.Count > 0)
        {
            var seen = new List<JsonObject>();
            for (var i = 0; i < array.Count; i++)
            {
                if (array[i] is not JsonObject item)
                {
                    continue;
                }

                var key = new JsonObject();
                foreach (var name in schema.ListMapKeys)
                {
                    if (item[name] is { } part)
                    {
                        key[name] = part.DeepClone();
                    }
                }

                if (seen.Any(k => JsonNode.DeepEquals(k, key)))
                {
                    errors.Add(new FieldError(FieldPath.Index(path, i), FieldErrorReasons.Duplicate, string.Empty, key));
                }
                else
                {
                    seen.Add(key);
                }
            }
        }
    }
}
