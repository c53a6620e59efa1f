using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>One canary step: exactly one of setWeight or pause.</summary>
[CelRule("has(self.setWeight) != has(self.pause)", "each step must set exactly one of setWeight or pause")]
public sealed class CanaryStep
{
    /// <summary>Percent (0-100) of eligible workloads to move to the new revision.</summary>
    [JsonPropertyName("setWeight")]
    [CelRule("self >= 0 && self <= 100", "setWeight must be between 0 and 100")]
    public int? SetWeight { get; set; }

    /// <summary>Wait, for a duration or (without one) until promoted.</summary>
    [JsonPropertyName("pause")]
    public CanaryPause? Pause { get; set; }
}
