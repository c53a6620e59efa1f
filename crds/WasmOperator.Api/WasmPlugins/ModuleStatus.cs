using System.Text.Json.Serialization;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>The module the operator resolved, fetched and verified.</summary>
public sealed class ModuleStatus
{
    /// <summary>The url from the spec this describes.</summary>
    [JsonPropertyName("url")]
    public string? Url { get; set; }

    /// <summary>The url with its tag resolved to a digest, e.g. oci://registry/repo@sha256:....</summary>
    [JsonPropertyName("resolvedRef")]
    public string? ResolvedRef { get; set; }

    /// <summary>For oci, the manifest digest (sha256:...).</summary>
    [JsonPropertyName("manifestDigest")]
    public string? ManifestDigest { get; set; }

    /// <summary>The SHA-256 of the module bytes (sha256:...).</summary>
    [JsonPropertyName("moduleDigest")]
    public string? ModuleDigest { get; set; }

    /// <summary>The module size in bytes.</summary>
    [JsonPropertyName("size")]
    public long? Size { get; set; }

    /// <summary>The Proxy-Wasm ABI version the module exports, e.g. 0.2.1.</summary>
    [JsonPropertyName("abiVersion")]
    public string? AbiVersion { get; set; }
}
