using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>Whether the plugin's decisions are applied.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PluginMode>))]
public enum PluginMode
{
    /// <summary>Decisions (local replies, header and body changes, stream closes) are applied.</summary>
    [JsonStringEnumMemberName("ENFORCE")]
    Enforce,

    /// <summary>The plugin sees real traffic; what it would have done is logged and counted, not applied.</summary>
    [JsonStringEnumMemberName("LOG_ONLY")]
    LogOnly,
}
