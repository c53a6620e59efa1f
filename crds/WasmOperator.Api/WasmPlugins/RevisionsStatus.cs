using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>The revisions in play.</summary>
public sealed class RevisionsStatus
{
    /// <summary>The revision every proxy not in the canary runs.</summary>
    [JsonPropertyName("stable")]
    public RevisionRef? Stable { get; set; }

    /// <summary>The revision being rolled out, if any.</summary>
    [JsonPropertyName("canary")]
    public RevisionRef? Canary { get; set; }
}
