using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>The kind of filter the plugin is (Istio's PluginType).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PluginType>))]
public enum PluginType
{
    /// <summary>Unset: HTTP.</summary>
    [JsonStringEnumMemberName("UNSPECIFIED_PLUGIN_TYPE")]
    UnspecifiedPluginType,

    /// <summary>An HTTP filter.</summary>
    [JsonStringEnumMemberName("HTTP")]
    Http,

    /// <summary>A network (TCP) filter; reported Unsupported for now.</summary>
    [JsonStringEnumMemberName("NETWORK")]
    Network,
}
