using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>Sandbox limits of the plugin's VMs.</summary>
public sealed class SandboxLimits
{
    /// <summary>Linear memory a VM shard may grow to, in bytes; at least 1 MiB.</summary>
    [JsonPropertyName("maxMemoryBytes")]
    [Default(67108864L)]
    [CelRule("self >= 1048576", "maxMemoryBytes must be at least 1048576 (1 MiB)")]
    public long? MaxMemoryBytes { get; set; }

    /// <summary>CPU deadline of one callback, e.g. 100ms; between 1ms and 10s.</summary>
    [JsonPropertyName("maxCallDuration")]
    [Default("100ms")]
    [MaxLength(64)]
    [CelRule("self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('1ms') && duration(self) <= duration('10s')",
        "maxCallDuration must be a duration between 1ms and 10s, such as 100ms")]
    public string? MaxCallDuration { get; set; }
}
