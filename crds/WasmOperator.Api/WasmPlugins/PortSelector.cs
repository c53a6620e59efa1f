using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>A port to match (Istio's PortSelector).</summary>
public sealed class PortSelector
{
    /// <summary>The port number.</summary>
    [JsonPropertyName("number")]
    [Required]
    [CelRule("0 < self && self <= 65535", "port must be between 1-65535")]
    public int? Number { get; set; }
}
