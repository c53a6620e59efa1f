using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using WasmOperator.Api.WasmPlugins;

namespace WasmOperator.Api.Serialization;

/// <summary>Reads and writes <see cref="WasmPlugin"/> objects as JSON or YAML, the way the API server stores them.</summary>
public static class WasmPluginSerializer
{
    /// <summary>The options: property names from the attributes, enums as their API strings, nulls omitted.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.General)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new Rfc3339TimeConverter() },
    };

    /// <summary>Reads a WasmPlugin from JSON.</summary>
    /// <exception cref="JsonException">The JSON does not fit the types.</exception>
    public static WasmPlugin FromJson(JsonNode json) =>
        json.Deserialize<WasmPlugin>(Options) ?? throw new JsonException("the document is null");

    /// <summary>Writes a WasmPlugin as a JSON object.</summary>
    public static JsonObject ToJson(WasmPlugin plugin) =>
        JsonSerializer.SerializeToNode(plugin, Options) as JsonObject ?? throw new JsonException("a WasmPlugin must serialize to an object");

    /// <summary>Reads a WasmPlugin from a single YAML document.</summary>
    public static WasmPlugin FromYaml(string yaml) => FromJson(YamlJson.Parse(yaml));

    /// <summary>Writes a WasmPlugin as YAML.</summary>
    public static string ToYaml(WasmPlugin plugin) => YamlJson.Serialize(ToJson(plugin));
}
