using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>A reference to a resource the plugin attaches to, such as a Gateway (Istio's PolicyTargetReference).</summary>
public sealed class PolicyTargetReference
{
    /// <summary>The group of the target; empty for the core group.</summary>
    [JsonPropertyName("group")]
    [MaxLength(253)]
    [Pattern("^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    public string? Group { get; set; }

    /// <summary>The kind of the target, e.g. Gateway.</summary>
    [JsonPropertyName("kind")]
    [Required]
    [MinLength(1)]
    [MaxLength(63)]
    [Pattern("^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")]
    public string? Kind { get; set; }

    /// <summary>The name of the target.</summary>
    [JsonPropertyName("name")]
    [Required]
    [MinLength(1)]
    [MaxLength(253)]
    public string? Name { get; set; }

    /// <summary>The namespace of the target; only the plugin's own namespace is allowed.</summary>
    [JsonPropertyName("namespace")]
    [MaxLength(63)]
    public string? Namespace { get; set; }
}
