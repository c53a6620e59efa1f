using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>A pause step; without a duration it waits for the promote annotation.</summary>
public sealed class CanaryPause
{
    /// <summary>How long to wait, e.g. 30s, 5m, 1h30m.</summary>
    [JsonPropertyName("duration")]
    [MaxLength(64)]
    [CelRule("self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$')", "duration must be a duration such as 30s, 5m or 1h30m")]
    public string? Duration { get; set; }
}
