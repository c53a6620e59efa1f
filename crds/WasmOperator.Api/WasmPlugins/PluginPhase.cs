using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>Where in the filter chain a plugin runs (Istio's PluginPhase).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PluginPhase>))]
public enum PluginPhase
{
    /// <summary>Last, just before forwarding to the upstream.</summary>
    [JsonStringEnumMemberName("UNSPECIFIED_PHASE")]
    UnspecifiedPhase,

    /// <summary>Before Istio's authentication filters.</summary>
    [JsonStringEnumMemberName("AUTHN")]
    Authn,

    /// <summary>Before authorization, after authentication.</summary>
    [JsonStringEnumMemberName("AUTHZ")]
    Authz,

    /// <summary>Before the stats filters, after authorization.</summary>
    [JsonStringEnumMemberName("STATS")]
    Stats,
}
