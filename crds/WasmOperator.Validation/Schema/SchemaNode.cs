using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WasmOperator.Validation.Cel;

namespace WasmOperator.Validation.Schema;

/// <summary>One node of a structural openAPIV3Schema, parsed once and reused for every object.</summary>
internal sealed class SchemaNode
{
    private SchemaNode(JsonObject json)
    {
        Type = (string?)json["type"] ?? string.Empty;
        Format = (string?)json["format"];
        Nullable = json["nullable"] is JsonValue n && n.GetValue<bool>();
        PreserveUnknownFields = json["x-kubernetes-preserve-unknown-fields"] is JsonValue p && p.GetValue<bool>();
        IntOrString = json["x-kubernetes-int-or-string"] is JsonValue ios && ios.GetValue<bool>();
        EmbeddedResource = json["x-kubernetes-embedded-resource"] is JsonValue er && er.GetValue<bool>();
        Default = json["default"]?.DeepClone();
        HasDefault = json.ContainsKey("default") && json["default"] is not null;
        Enum = json["enum"] is JsonArray e ? e.Select(v => v?.DeepClone()).ToList() : null;
        if ((string?)json["pattern"] is { } pattern)
        {
            Pattern = pattern;
            PatternRegex = new Regex(EndOfTextAnchors(pattern), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }

        Minimum = Number(json["minimum"]);
        Maximum = Number(json["maximum"]);
        ExclusiveMinimum = json["exclusiveMinimum"] is JsonValue emin && emin.GetValue<bool>();
        ExclusiveMaximum = json["exclusiveMaximum"] is JsonValue emax && emax.GetValue<bool>();
        MinLength = Integer(json["minLength"]);
        MaxLength = Integer(json["maxLength"]);
        MinItems = Integer(json["minItems"]);
        MaxItems = Integer(json["maxItems"]);
        MinProperties = Integer(json["minProperties"]);
        MaxProperties = Integer(json["maxProperties"]);
        Required = json["required"] is JsonArray r ? r.Select(v => (string)v!).ToList() : [];
        ListType = (string?)json["x-kubernetes-list-type"];
        ListMapKeys = json["x-kubernetes-list-map-keys"] is JsonArray k ? k.Select(v => (string)v!).ToList() : [];

        if (json["properties"] is JsonObject props)
        {
            foreach (var (name, child) in props)
            {
                Properties[name] = Parse(child);
            }
        }

        if (json["items"] is JsonObject items)
        {
            Items = Parse(items);
        }

        if (json["additionalProperties"] is JsonObject additional)
        {
            AdditionalProperties = Parse(additional);
        }
        else if (json["additionalProperties"] is JsonValue allowAny && allowAny.GetValue<bool>())
        {
            AdditionalProperties = new SchemaNode(new JsonObject { ["x-kubernetes-preserve-unknown-fields"] = true });
        }

        if (json["x-kubernetes-validations"] is JsonArray rules)
        {
            foreach (var rule in rules.OfType<JsonObject>())
            {
                Rules.Add(CelRule.Parse(rule));
            }
        }
    }

    public string Type { get; }

    public string? Format { get; }

    public bool Nullable { get; }

    public bool PreserveUnknownFields { get; }

    public bool IntOrString { get; }

    public bool EmbeddedResource { get; }

    public JsonNode? Default { get; }

    public bool HasDefault { get; }

    public IReadOnlyList<JsonNode?>? Enum { get; }

    public string? Pattern { get; }

    public Regex? PatternRegex { get; }

    /// <summary>
    /// The pattern with each <c>$</c> outside a character class made <c>\z</c>: in Go's regexp, which kube-apiserver
    /// matches patterns with, <c>$</c> is the end of the text; in .NET's it also matches before a final line break, so
    /// <c>"add_header\n"</c> passed a pattern kube refuses it by.
    /// </summary>
    internal static string EndOfTextAnchors(string pattern)
    {
        var text = new System.Text.StringBuilder(pattern.Length + 4);
        var inClass = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                text.Append(c).Append(pattern[++i]);
            }
            else if (inClass)
            {
                inClass = c != ']';
                text.Append(c);
            }
            else if (c == '[')
            {
                inClass = true;
                text.Append(c);
                // A '^' and then a ']' first in a class are part of it, not its end.
                if (i + 1 < pattern.Length && pattern[i + 1] == '^')
                {
                    text.Append(pattern[++i]);
                }

                if (i + 1 < pattern.Length && pattern[i + 1] == ']')
                {
                    text.Append(pattern[++i]);
                }
            }
            else
            {
                text.Append(c == '$' ? "\\z" : c.ToString());
            }
        }

        return text.ToString();
    }

    public double? Minimum { get; }

    public double? Maximum { get; }

    public bool ExclusiveMinimum { get; }

    public bool ExclusiveMaximum { get; }

    public long? MinLength { get; }

    public long? MaxLength { get; }

    public long? MinItems { get; }

    public long? MaxItems { get; }

    public long? MinProperties { get; }

    public long? MaxProperties { get; }

    public IReadOnlyList<string> Required { get; }

    public string? ListType { get; }

    public IReadOnlyList<string> ListMapKeys { get; }

    public Dictionary<string, SchemaNode> Properties { get; } = new(StringComparer.Ordinal);

    public SchemaNode? Items { get; }

    public SchemaNode? AdditionalProperties { get; }

    public List<CelRule> Rules { get; } = [];

    /// <summary>The name kube uses for this node's type in CEL errors ("object", "string", ...).</summary>
    public string TypeName => Type.Length > 0 ? Type : IntOrString ? "int-or-string" : "object";

    public static SchemaNode Parse(JsonNode? json) =>
        json is JsonObject obj ? new SchemaNode(obj) : throw new ArgumentException("a schema node must be a JSON object", nameof(json));

    private static double? Number(JsonNode? node) =>
        node is JsonValue v ? double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture) : null;

    private static long? Integer(JsonNode? node) =>
        node is JsonValue v ? (long)double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture) : null;
}
