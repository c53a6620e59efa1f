using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>One requirement on a pod label.</summary>
[CelRule("self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
    "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist", FieldPath = ".values")]
public sealed class LabelSelectorRequirement
{
    /// <summary>The label key.</summary>
    [JsonPropertyName("key")]
    [Required]
    [MinLength(1)]
    [MaxLength(317)]
    public string? Key { get; set; }

    /// <summary>How the label relates to the values.</summary>
    [JsonPropertyName("operator")]
    [Required]
    public LabelSelectorOperator? Operator { get; set; }

    /// <summary>The values for In and NotIn.</summary>
    [JsonPropertyName("values")]
    [MaxItems(256)]
    public List<string>? Values { get; set; }
}
