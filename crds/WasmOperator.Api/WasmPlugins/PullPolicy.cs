using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>When the module is pulled (Istio's PullPolicy).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PullPolicy>))]
public enum PullPolicy
{
    /// <summary>Unset: IfNotPresent, except Always for an oci tag latest.</summary>
    [JsonStringEnumMemberName("UNSPECIFIED_POLICY")]
    UnspecifiedPolicy,

    /// <summary>Pull only when the digest is not cached.</summary>
    [JsonStringEnumMemberName("IfNotPresent")]
    IfNotPresent,

    /// <summary>Re-resolve the tag on every spec change and on an interval.</summary>
    [JsonStringEnumMemberName("Always")]
    Always,
}
