using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>
/// An Argo-style canary: the weight is the share of eligible workloads on the new revision, chosen by a
/// stable hash of the workload id.
/// </summary>
public sealed class CanarySpec
{
    /// <summary>Optional subset of the selected workloads eligible for the canary; the rest stay stable until the end.</summary>
    [JsonPropertyName("selector")]
    public LabelSelector? Selector { get; set; }

    /// <summary>The steps in order; none means all at once.</summary>
    [JsonPropertyName("steps")]
    [MaxItems(32)]
    public List<CanaryStep>? Steps { get; set; }

    /// <summary>How health is checked while the canary runs.</summary>
    [JsonPropertyName("analysis")]
    [DefaultObject]
    public CanaryAnalysis? Analysis { get; set; }
}
