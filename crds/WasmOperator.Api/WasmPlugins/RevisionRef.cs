using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>A revision: module digest + plugin config + vm config + root id, identified by a hash.</summary>
public sealed class RevisionRef
{
    /// <summary>The revision id.</summary>
    [JsonPropertyName("revision")]
    public string? Revision { get; set; }

    /// <summary>The module digest of the revision (sha256:...).</summary>
    [JsonPropertyName("moduleDigest")]
    public string? ModuleDigest { get; set; }
}
