using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using WasmOperator.Api.Serialization;

namespace WasmOperator.Api.Schema;

/// <summary>
/// Produces an <c>apiextensions.k8s.io/v1</c> CustomResourceDefinition from a root type marked with
/// <see cref="CustomResourceAttribute"/>: a structural schema from the property types, the rules from the
/// schema attributes, and descriptions from the XML doc comments.
/// </summary>
public static class CrdGenerator
{
    /// <summary>The CRD as JSON.</summary>
    /// <param name="rootType">The custom resource's root type, e.g. <c>WasmPlugin</c>.</param>
    public static JsonObject Generate(Type rootType)
    {
        ArgumentNullException.ThrowIfNull(rootType);
        var resource = rootType.GetCustomAttribute<CustomResourceAttribute>()
            ?? throw new ArgumentException($"{rootType.Name} has no [CustomResource] attribute", nameof(rootType));
        var docs = XmlDocs.For(rootType.Assembly);

        var names = new JsonObject
        {
            ["kind"] = resource.Kind,
            ["listKind"] = resource.Kind + "List",
            ["plural"] = resource.Plural,
            ["singular"] = resource.Kind.ToLowerInvariant(),
        };
        if (resource.ShortNames.Length > 0)
        {
            names["shortNames"] = Strings(resource.ShortNames);
        }

        if (resource.Categories.Length > 0)
        {
            names["categories"] = Strings(resource.Categories);
        }

        var version = new JsonObject
        {
            ["name"] = resource.Version,
            ["served"] = true,
            ["storage"] = true,
        };
        var columns = new JsonArray();
        foreach (var column in rootType.GetCustomAttributes<PrinterColumnAttribute>())
        {
            var c = new JsonObject { ["name"] = column.Name, ["type"] = column.Type, ["jsonPath"] = column.JsonPath };
            if (column.Description is { } description)
            {
                c["description"] = description;
            }

            if (column.Priority != 0)
            {
                c["priority"] = column.Priority;
            }

            columns.Add(c);
        }

        if (columns.Count > 0)
        {
            version["additionalPrinterColumns"] = columns;
        }

        version["schema"] = new JsonObject { ["openAPIV3Schema"] = new SchemaBuilder(docs).ForObject(rootType, isRoot: true) };
        if (resource.StatusSubresource)
        {
            version["subresources"] = new JsonObject { ["status"] = new JsonObject() };
        }

        return new JsonObject
        {
            ["apiVersion"] = "apiextensions.k8s.io/v1",
            ["kind"] = "CustomResourceDefinition",
            ["metadata"] = new JsonObject { ["name"] = $"{resource.Plural}.{resource.Group}" },
            ["spec"] = new JsonObject
            {
                ["group"] = resource.Group,
                ["names"] = names,
                ["scope"] = resource.Namespaced ? "Namespaced" : "Cluster",
                ["versions"] = new JsonArray(version),
            },
        };
    }

    /// <summary>The CRD as YAML, as checked in at crds/wasmplugin.yaml.</summary>
    public static string GenerateYaml(Type rootType) =>
        "# Generated from the C# types in crds/WasmOperator.Api by `make crds`. Do not edit.\n" + YamlJson.Serialize(Generate(rootType));

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());

    /// <summary>Walks the types; one instance per generation.</summary>
    private sealed class SchemaBuilder(XmlDocs docs)
    {
        public JsonObject ForObject(Type type, bool isRoot = false)
        {
            var schema = new JsonObject();
            if (docs.Of(type) is { } description)
            {
                schema["description"] = description;
            }

            schema["type"] = "object";
            var properties = new JsonObject();
            var required = new JsonArray();
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (property.GetCustomAttribute<JsonExtensionDataAttribute>() is not null || property.GetCustomAttribute<JsonIgnoreAttribute>() is not null)
                {
                    continue;
                }

                var name = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name
                    ?? throw new InvalidOperationException($"{type.Name}.{property.Name} has no [JsonPropertyName]");
                properties[name] = isRoot && name == "metadata"
                    ? new JsonObject { ["type"] = "object" }
                    : ForProperty(property);
                if (property.GetCustomAttribute<RequiredAttribute>() is not null)
                {
                    required.Add(name);
                }
            }

            schema["properties"] = properties;
            if (required.Count > 0)
            {
                schema["required"] = required;
            }

            AddRules(schema, type.GetCustomAttributes<CelRuleAttribute>());
            return schema;
        }

        private JsonObject ForProperty(PropertyInfo property)
        {
            var schema = new JsonObject();
            if (docs.Of(property) is { } description)
            {
                schema["description"] = description;
            }

            var typeSchema = ForType(property.PropertyType);
            JsonArray? typeRules = null;
            foreach (var (key, value) in typeSchema.ToList())
            {
                if (key == "description")
                {
                    continue;
                }

                typeSchema.Remove(key);
                if (key == "x-kubernetes-validations")
                {
                    typeRules = (JsonArray?)value;
                    continue;
                }

                schema[key] = value;
            }

            if (property.GetCustomAttribute<FormatAttribute>() is { } format)
            {
                schema["format"] = format.Name;
            }

            if (property.GetCustomAttribute<DefaultAttribute>() is { } defaultValue)
            {
                schema["default"] = defaultValue.Value.DeepClone();
            }
            else if (property.GetCustomAttribute<DefaultObjectAttribute>() is not null)
            {
                schema["default"] = new JsonObject();
            }

            if (property.GetCustomAttribute<MinLengthAttribute>() is { } minLength)
            {
                schema["minLength"] = minLength.Length;
            }

            if (property.GetCustomAttribute<MaxLengthAttribute>() is { } maxLength)
            {
                schema["maxLength"] = maxLength.Length;
            }

            if (property.GetCustomAttribute<PatternAttribute>() is { } pattern)
            {
                schema["pattern"] = pattern.Regex;
            }

            if (property.GetCustomAttribute<MinItemsAttribute>() is { } minItems)
            {
                schema["minItems"] = minItems.Count;
            }

            if (property.GetCustomAttribute<MaxItemsAttribute>() is { } maxItems)
            {
                schema["maxItems"] = maxItems.Count;
            }

            if (property.GetCustomAttribute<MaxPropertiesAttribute>() is { } maxProperties)
            {
                schema["maxProperties"] = maxProperties.Count;
            }

            if (property.GetCustomAttribute<MinimumAttribute>() is { } minimum)
            {
                schema["minimum"] = minimum.Value;
            }

            if (property.GetCustomAttribute<SchemaNullableAttribute>() is not null)
            {
                schema["nullable"] = true;
            }

            if (property.GetCustomAttribute<ListMapKeysAttribute>() is { } mapKeys)
            {
                schema["x-kubernetes-list-map-keys"] = Strings(mapKeys.Keys);
                schema["x-kubernetes-list-type"] = "map";
            }
            else if (property.GetCustomAttribute<ListTypeAttribute>() is { } listType)
            {
                schema["x-kubernetes-list-type"] = listType.Type;
            }

            if (property.GetCustomAttribute<PreserveUnknownFieldsAttribute>() is not null)
            {
                schema["x-kubernetes-preserve-unknown-fields"] = true;
            }

            if (typeRules is not null)
            {
                schema["x-kubernetes-validations"] = typeRules;
            }

            AddRules(schema, property.GetCustomAttributes<CelRuleAttribute>());
            return schema;
        }

        private JsonObject ForType(Type type)
        {
            type = Nullable.GetUnderlyingType(type) ?? type;
            if (type == typeof(string))
            {
                return new JsonObject { ["type"] = "string" };
            }

            if (type == typeof(DateTimeOffset) || type == typeof(DateTime))
            {
                return new JsonObject { ["type"] = "string", ["format"] = "date-time" };
            }

            if (type == typeof(int))
            {
                return new JsonObject { ["type"] = "integer", ["format"] = "int32" };
            }

            if (type == typeof(long))
            {
                return new JsonObject { ["type"] = "integer", ["format"] = "int64" };
            }

            if (type == typeof(double))
            {
                return new JsonObject { ["type"] = "number" };
            }

            if (type == typeof(bool))
            {
                return new JsonObject { ["type"] = "boolean" };
            }

            if (type.IsEnum)
            {
                var values = new JsonArray();
                foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Static))
                {
                    values.Add(field.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? field.Name);
                }

                return new JsonObject { ["type"] = "string", ["enum"] = values };
            }

            if (type == typeof(JsonObject))
            {
                return new JsonObject { ["type"] = "object" };
            }

            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
            {
                return new JsonObject { ["type"] = "object", ["additionalProperties"] = ForType(type.GetGenericArguments()[1]) };
            }

            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
            {
                return new JsonObject { ["type"] = "array", ["items"] = ForType(type.GetGenericArguments()[0]) };
            }

            if (type.IsClass)
            {
                return ForObject(type);
            }

            throw new NotSupportedException($"no schema mapping for {type.Name}");
        }

        private static void AddRules(JsonObject schema, IEnumerable<CelRuleAttribute> rules)
        {
            foreach (var rule in rules)
            {
                if (schema["x-kubernetes-validations"] is not JsonArray list)
                {
                    list = [];
                    schema["x-kubernetes-validations"] = list;
                }

                var entry = new JsonObject { ["rule"] = rule.Rule, ["message"] = rule.Message };
                if (rule.FieldPath is { } fieldPath)
                {
                    entry["fieldPath"] = fieldPath;
                }

                if (rule.Reason is { } reason)
                {
                    entry["reason"] = reason;
                }

                list.Add(entry);
            }
        }
    }
}
