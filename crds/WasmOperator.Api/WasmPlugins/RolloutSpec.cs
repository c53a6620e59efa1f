using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>How a new revision reaches the proxies.</summary>
public sealed class RolloutSpec
{
    /// <summary>A canary: step by step, checked against proxy health.</summary>
    [JsonPropertyName("canary")]
    public CanarySpec? Canary { get; set; }
}
