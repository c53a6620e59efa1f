using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>The relation of a label selector requirement.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<LabelSelectorOperator>))]
public enum LabelSelectorOperator
{
    /// <summary>The label's value is one of the values.</summary>
    [JsonStringEnumMemberName("In")]
    In,

    /// <summary>The label's value is none of the values.</summary>
    [JsonStringEnumMemberName("NotIn")]
    NotIn,

    /// <summary>The label is present.</summary>
    [JsonStringEnumMemberName("Exists")]
    Exists,

    /// <summary>The label is absent.</summary>
    [JsonStringEnumMemberName("DoesNotExist")]
    DoesNotExist,
}
