using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>Health checks of the canary, computed from proxy health reports each interval.</summary>
public sealed class CanaryAnalysis
{
    /// <summary>How often to check, e.g. 1m; at least 1s.</summary>
    [JsonPropertyName("interval")]
    [Default("1m")]
    [MaxLength(64)]
    [CelRule("self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('1s')",
        "interval must be a duration of at least 1s, such as 30s or 1m")]
    public string? Interval { get; set; }

    /// <summary>Requests the canary must have served in an interval before its ratios count.</summary>
    [JsonPropertyName("minRequests")]
    [Default(100L)]
    [CelRule("self >= 0", "minRequests must not be negative")]
    public int? MinRequests { get; set; }

    /// <summary>Highest allowed share (0..1) of requests where the plugin failed (trap, deadline, load failure).</summary>
    [JsonPropertyName("maxFailureRatio")]
    [Default(0.01)]
    [CelRule("self >= 0.0 && self <= 1.0", "maxFailureRatio must be between 0 and 1")]
    public double? MaxFailureRatio { get; set; }

    /// <summary>Highest allowed share (0..1) of 5xx responses on the canary.</summary>
    [JsonPropertyName("maxErrorRatio")]
    [Default(0.05)]
    [CelRule("self >= 0.0 && self <= 1.0", "maxErrorRatio must be between 0 and 1")]
    public double? MaxErrorRatio { get; set; }

    /// <summary>Failed checks after which the rollout aborts.</summary>
    [JsonPropertyName("failureLimit")]
    [Default(3L)]
    [CelRule("self >= 1", "failureLimit must be at least 1")]
    public int? FailureLimit { get; set; }
}
