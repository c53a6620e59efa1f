using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>The observed state of a WasmPlugin, written by the operator.</summary>
public sealed class WasmPluginStatus
{
    /// <summary>The metadata.generation this status describes.</summary>
    [JsonPropertyName("observedGeneration")]
    [Minimum(0)]
    public long? ObservedGeneration { get; set; }

    /// <summary>kstatus conditions: Ready, Reconciling, Stalled and ModuleVerified.</summary>
    [JsonPropertyName("conditions")]
    [MaxItems(32)]
    [ListMapKeys("type")]
    public List<Condition>? Conditions { get; set; }

    /// <summary>The module the operator resolved and verified.</summary>
    [JsonPropertyName("module")]
    public ModuleStatus? Module { get; set; }

    /// <summary>The stable and canary revisions.</summary>
    [JsonPropertyName("revisions")]
    public RevisionsStatus? Revisions { get; set; }

    /// <summary>Progress of the current rollout.</summary>
    [JsonPropertyName("rollout")]
    public RolloutStatus? Rollout { get; set; }

    /// <summary>How many selected proxies run the plugin, and which fail.</summary>
    [JsonPropertyName("workloads")]
    public WorkloadsStatus? Workloads { get; set; }
}
