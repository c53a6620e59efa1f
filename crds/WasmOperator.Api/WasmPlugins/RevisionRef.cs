using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>
/// A revision: module digest + plugin config + vm config + root id, identified by a hash. The operator also
/// records what it needs to hand the same revision out again after a restart, even when the current spec fails.
/// </summary>
public sealed class RevisionRef
{
    /// <summary>The revision id.</summary>
    [JsonPropertyName("revision")]
    public string? Revision { get; set; }

    /// <summary>The module digest of the revision (sha256:...).</summary>
    [JsonPropertyName("moduleDigest")]
    public string? ModuleDigest { get; set; }

    /// <summary>The metadata.generation whose spec made this revision.</summary>
    [JsonPropertyName("generation")]
    [Minimum(0)]
    public long? Generation { get; set; }

    /// <summary>Where the module can be fetched again by digest: registry/repo@sha256:... for oci, else the url.</summary>
    [JsonPropertyName("resolvedRef")]
    public string? ResolvedRef { get; set; }

    /// <summary>The Proxy-Wasm ABI version the module exports, e.g. 0.2.1.</summary>
    [JsonPropertyName("abiVersion")]
    public string? AbiVersion { get; set; }

    /// <summary>
    /// The spec this revision was made from, as applied; written by the operator so that it can restore the
    /// revision after a restart while a newer spec fails.
    /// </summary>
    [JsonPropertyName("spec")]
    [PreserveUnknownFields]
    public JsonObject? Spec { get; set; }
}
