using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>Progress of the current rollout.</summary>
public sealed class RolloutStatus
{
    /// <summary>Progressing, Paused, Healthy, Degraded or Aborted.</summary>
    [JsonPropertyName("phase")]
    public RolloutPhase? Phase { get; set; }

    /// <summary>The index of the current canary step.</summary>
    [JsonPropertyName("stepIndex")]
    public int? StepIndex { get; set; }

    /// <summary>The current weight, percent of eligible workloads on the canary revision.</summary>
    [JsonPropertyName("weight")]
    public int? Weight { get; set; }

    /// <summary>Failed analysis checks so far.</summary>
    [JsonPropertyName("failedChecks")]
    public int? FailedChecks { get; set; }

    /// <summary>What is happening, for humans.</summary>
    [JsonPropertyName("message")]
    public string? Message { get; set; }
}
