using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>What the proxy does when a plugin cannot run (Istio's FailStrategy).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<FailStrategy>))]
public enum FailStrategy
{
    /// <summary>Matching requests get 503.</summary>
    [JsonStringEnumMemberName("FAIL_CLOSE")]
    FailClose,

    /// <summary>The plugin is skipped and the request continues.</summary>
    [JsonStringEnumMemberName("FAIL_OPEN")]
    FailOpen,

    /// <summary>The VM shard is rebuilt with backoff and the request retried once on a fresh shard.</summary>
    [JsonStringEnumMemberName("FAIL_RELOAD")]
    FailReload,
}
