using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>Which traffic a plugin applies to (Istio's TrafficSelector).</summary>
public sealed class TrafficSelector
{
    /// <summary>The side of the traffic: CLIENT, SERVER, CLIENT_AND_SERVER or UNDEFINED (both).</summary>
    [JsonPropertyName("mode")]
    public WorkloadMode? Mode { get; set; }

    /// <summary>The ports to match; empty matches every port.</summary>
    [JsonPropertyName("ports")]
    [MaxItems(64)]
    public List<PortSelector>? Ports { get; set; }
}
