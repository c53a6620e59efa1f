using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>The phase of a rollout.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RolloutPhase>))]
public enum RolloutPhase
{
    /// <summary>Moving through the canary steps.</summary>
    [JsonStringEnumMemberName("Progressing")]
    Progressing,

    /// <summary>Waiting at a pause step (for its duration or for promotion).</summary>
    [JsonStringEnumMemberName("Paused")]
    Paused,

    /// <summary>Every eligible proxy runs the desired revision.</summary>
    [JsonStringEnumMemberName("Healthy")]
    Healthy,

    /// <summary>Analysis failed or proxies reject the revision.</summary>
    [JsonStringEnumMemberName("Degraded")]
    Degraded,

    /// <summary>Aborted by analysis or by the abort annotation; the stable revision runs.</summary>
    [JsonStringEnumMemberName("Aborted")]
    Aborted,
}
