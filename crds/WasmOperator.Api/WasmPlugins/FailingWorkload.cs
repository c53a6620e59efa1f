using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>A proxy that does not run the desired revision, and why.</summary>
public sealed class FailingWorkload
{
    /// <summary>The pod name.</summary>
    [JsonPropertyName("name")]
    public string? Name { get; set; }

    /// <summary>The pod namespace.</summary>
    [JsonPropertyName("namespace")]
    public string? Namespace { get; set; }

    /// <summary>The revision the proxy was asked to run.</summary>
    [JsonPropertyName("revision")]
    public string? Revision { get; set; }

    /// <summary>The proxy's NACK reason, e.g. ABI rejected or digest mismatch.</summary>
    [JsonPropertyName("reason")]
    public string? Reason { get; set; }
}
