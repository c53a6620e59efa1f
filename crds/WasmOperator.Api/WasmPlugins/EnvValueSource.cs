using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>Where an environment variable's value comes from (Istio's EnvValueSource).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EnvValueSource>))]
public enum EnvValueSource
{
    /// <summary>The value field.</summary>
    [JsonStringEnumMemberName("INLINE")]
    Inline,

    /// <summary>The proxy's own environment variable of the same name.</summary>
    [JsonStringEnumMemberName("HOST")]
    Host,
}
