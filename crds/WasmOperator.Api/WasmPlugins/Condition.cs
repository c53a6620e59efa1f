using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>A condition in the shape of metav1.Condition.</summary>
public sealed class Condition
{
    /// <summary>The condition type, e.g. Ready.</summary>
    [JsonPropertyName("type")]
    [Required]
    [MaxLength(316)]
    [Pattern("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$")]
    public string? Type { get; set; }

    /// <summary>True, False or Unknown.</summary>
    [JsonPropertyName("status")]
    [Required]
    public ConditionStatus? Status { get; set; }

    /// <summary>The metadata.generation the condition was set for.</summary>
    [JsonPropertyName("observedGeneration")]
    [Minimum(0)]
    public long? ObservedGeneration { get; set; }

    /// <summary>When the status last changed.</summary>
    [JsonPropertyName("lastTransitionTime")]
    [Required]
    public DateTimeOffset? LastTransitionTime { get; set; }

    /// <summary>A CamelCase reason for the last transition.</summary>
    [JsonPropertyName("reason")]
    [Required]
    [MinLength(1)]
    [MaxLength(1024)]
    [Pattern("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")]
    public string? Reason { get; set; }

    /// <summary>A human-readable message.</summary>
    [JsonPropertyName("message")]
    [Required]
    [MaxLength(32768)]
    public string? Message { get; set; }
}
