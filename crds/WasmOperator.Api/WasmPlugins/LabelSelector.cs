using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>Selects workloads by pod labels: Istio's matchLabels, plus Kubernetes matchExpressions as a superset.</summary>
public sealed class LabelSelector
{
    /// <summary>Labels a pod must carry, all of them, with these values.</summary>
    [JsonPropertyName("matchLabels")]
    [MaxProperties(4096)]
    [CelRule("self.all(key, !key.contains('*'))", "wildcard not allowed in label key match")]
    [CelRule("self.all(key, key.size() != 0)", "key must not be empty")]
    public Dictionary<string, string>? MatchLabels { get; set; }

    /// <summary>Further requirements on pod labels, all of which must hold.</summary>
    [JsonPropertyName("matchExpressions")]
    [MaxItems(64)]
    public List<LabelSelectorRequirement>? MatchExpressions { get; set; }
}
