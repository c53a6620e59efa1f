using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>Which side of the traffic a selector matches (Istio's WorkloadMode).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<WorkloadMode>))]
public enum WorkloadMode
{
    /// <summary>Both sides.</summary>
    [JsonStringEnumMemberName("UNDEFINED")]
    Undefined,

    /// <summary>Outbound traffic.</summary>
    [JsonStringEnumMemberName("CLIENT")]
    Client,

    /// <summary>Inbound traffic.</summary>
    [JsonStringEnumMemberName("SERVER")]
    Server,

    /// <summary>Both sides.</summary>
    [JsonStringEnumMemberName("CLIENT_AND_SERVER")]
    ClientAndServer,
}
