namespace WasmOperator.Modules;

/// <summary>A verified module in the cache.</summary>
public sealed record FetchedModule
{
    /// <summary>The URL as requested.</summary>
    public required string Url { get; init; }

    /// <summary>The reference the URL resolved to, e.g. <c>registry/repo@sha256:…</c>, or the URL for http(s)/file.</summary>
    public required string ResolvedRef { get; init; }

    /// <summary>For OCI: the digest of the manifest the reference resolved to (<c>sha256:…</c>).</summary>
    public string? ManifestDigest { get; init; }

    /// <summary>Digest of the module bytes (<c>sha256:…</c>).</summary>
    public required string ModuleDigest { get; init; }

    /// <summary>Size of the module in bytes.</summary>
    public required long Size { get; init; }

    /// <summary>Path of the module file in the cache (read-only; pin the digest to keep it).</summary>
    public required string Path { get; init; }

    /// <summary>How the module was packaged.</summary>
    public required ModuleFormat Format { get; init; }

    /// <summary>Media type of the layer (or <c>application/wasm</c> for raw sources).</summary>
    public required string MediaType { get; init; }

    /// <summary>True when the module came from the cache without downloading it.</summary>
    public bool FromCache { get; init; }
}
