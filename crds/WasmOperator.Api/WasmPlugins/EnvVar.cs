using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>One environment variable of the plugin (Istio's EnvVar).</summary>
[CelRule("(has(self.valueFrom) ? self.valueFrom : 'INLINE') == 'INLINE' || !has(self.value)",
    "value may only be set when valueFrom is INLINE", FieldPath = ".value")]
public sealed class EnvVar
{
    /// <summary>The variable's name.</summary>
    [JsonPropertyName("name")]
    [Required]
    [MinLength(1)]
    [MaxLength(256)]
    public string? Name { get; set; }

    /// <summary>INLINE (the default) takes value; HOST copies the proxy's own variable.</summary>
    [JsonPropertyName("valueFrom")]
    public EnvValueSource? ValueFrom { get; set; }

    /// <summary>The value, for INLINE only.</summary>
    [JsonPropertyName("value")]
    [MaxLength(2048)]
    public string? Value { get; set; }
}
