using System.Text.Json;
using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>
/// The parts of Kubernetes object metadata this API reads; every other metadata field is kept in
/// <see cref="Extra"/> so that nothing is lost on a round trip.
/// </summary>
public sealed class ObjectMeta
{
    /// <summary>The object's name.</summary>
    [JsonPropertyName("name")]
    public string? Name { get; set; }

    /// <summary>The object's namespace.</summary>
    [JsonPropertyName("namespace")]
    public string? Namespace { get; set; }

    /// <summary>Labels.</summary>
    [JsonPropertyName("labels")]
    public Dictionary<string, string>? Labels { get; set; }

    /// <summary>Annotations, e.g. <c>extensions.wasmoperator.io/promote: "true"</c>.</summary>
    [JsonPropertyName("annotations")]
    public Dictionary<string, string>? Annotations { get; set; }

    /// <summary>The spec generation, incremented by the API server on every spec change.</summary>
    [JsonPropertyName("generation")]
    public long? Generation { get; set; }

    /// <summary>The server's version of the object, for optimistic concurrency.</summary>
    [JsonPropertyName("resourceVersion")]
    public string? ResourceVersion { get; set; }

    /// <summary>The object's unique id.</summary>
    [JsonPropertyName("uid")]
    public string? Uid { get; set; }

    /// <summary>When the object was created.</summary>
    [JsonPropertyName("creationTimestamp")]
    public DateTimeOffset? CreationTimestamp { get; set; }

    /// <summary>Metadata fields not modelled above (finalizers, ownerReferences, managedFields, ...).</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}
