using WasmOperator.Modules.Failures;

namespace WasmOperator.Modules.Oci;

/// <summary>Recognises the four Wasm packagings and picks the layer that holds the module.</summary>
internal static class OciFormatSelector
{
    public static (OciDescriptor Layer, ModuleFormat Format) Select(string url, OciManifest manifest)
    {
        if (Single(manifest, OciMediaTypes.CncfWasmLayer) is { } cncf)
        {
            return (cncf, ModuleFormat.CncfWasmArtifact);
        }

        if (Single(manifest, OciMediaTypes.IstioWasmLayer) is { } istio)
        {
            return (istio, ModuleFormat.IstioArtifact);
        }

        if (Single(manifest, OciMediaTypes.WasmToOciLayer) is { } wasmToOci)
        {
            return (wasmToOci, ModuleFormat.WasmToOci);
        }

        if (manifest.Layers.Count > 0 && manifest.Layers[^1].MediaType is OciMediaTypes.DockerLayerTarGzip or OciMediaTypes.OciLayerTarGzip)
        {
            return (manifest.Layers[^1], ModuleFormat.ImageWithPluginWasm);
        }

        if (manifest.Layers.Count > 0 && manifest.Layers[^1].MediaType is var last && last.Contains(".tar", StringComparison.Ordinal))
        {
            // Said so: such a layer may well hold plugin.wasm, and the generic advice ("an image whose last layer holds it") misled.
            throw new UnsupportedFormatException(url, MediaTypesOf(manifest),
                $"the image's last layer is {last}, and plugin.wasm is read only from a tar+gzip layer ({OciMediaTypes.OciLayerTarGzip} or {OciMediaTypes.DockerLayerTarGzip}), as Istio does; push the image with gzip-compressed layers");
        }

        throw new UnsupportedFormatException(url, MediaTypesOf(manifest), "no layer holds a Wasm module in a supported format");
    }

    public static List<string> MediaTypesOf(OciManifest manifest)
    {
        var seen = new List<string> { manifest.MediaType };
        if (manifest.Config is { } config)
        {
            seen.Add(config.MediaType);
        }

        foreach (var layer in manifest.Layers)
        {
            seen.Add(layer.MediaType);
        }

        return seen;
    }

    /// <summary>
    /// The platform entry of an image index to fetch, as Istio picks it: an entry that carries Wasm (architecture wasm,
    /// os wasi*); else, attestations left aside (buildx adds a provenance entry, platform unknown/unknown), linux/amd64
    /// (go-containerregistry's default platform, Istio's image fetcher uses it) or the only entry left.
    /// </summary>
    public static OciDescriptor SelectPlatform(string url, OciManifest index)
    {
        foreach (var entry in index.Manifests)
        {
            if (string.Equals(entry.Architecture, "wasm", StringComparison.OrdinalIgnoreCase)
                || (entry.Os?.StartsWith("wasi", StringComparison.OrdinalIgnoreCase) ?? false))
            {
                return entry;
            }
        }

        OciDescriptor? only = null;
        var images = 0;
        foreach (var entry in index.Manifests)
        {
            if (IsAttestation(entry))
            {
                continue;
            }

            if (string.Equals(entry.Os, "linux", StringComparison.OrdinalIgnoreCase) && string.Equals(entry.Architecture, "amd64", StringComparison.OrdinalIgnoreCase))
            {
                return entry;
            }

            only = entry;
            images++;
        }

        if (images == 1 && only is not null)
        {
            return only;
        }

        var platforms = index.Manifests.Select(m => $"{m.Os ?? "?"}/{m.Architecture ?? "?"}").ToList();
        throw new UnsupportedFormatException(url, [index.MediaType],
            $"the image index has no wasm (os wasi*, architecture wasm) or linux/amd64 entry to choose (platforms: {string.Join(", ", platforms)})");
    }

    private static bool IsAttestation(OciDescriptor entry) =>
        entry.ReferenceType == "attestation-manifest"
        || (string.Equals(entry.Os, "unknown", StringComparison.Ordinal) && string.Equals(entry.Architecture, "unknown", StringComparison.Ordinal));

    private static OciDescriptor? Single(OciManifest manifest, string mediaType)
    {
        OciDescriptor? found = null;
        foreach (var layer in manifest.Layers)
        {
            if (layer.MediaType == mediaType)
            {
                if (found is not null)
                {
                    return null;
                }

                found = layer;
            }
        }

        return found;
    }
}
