using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>The status of a condition.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ConditionStatus>))]
public enum ConditionStatus
{
    /// <summary>The condition holds.</summary>
    [JsonStringEnumMemberName("True")]
    True,

    /// <summary>The condition does not hold.</summary>
    [JsonStringEnumMemberName("False")]
    False,

    /// <summary>Not known yet.</summary>
    [JsonStringEnumMemberName("Unknown")]
    Unknown,
}
