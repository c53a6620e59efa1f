namespace WasmOperator.Modules.Failures;

/// <summary>The artifact is not one of the supported Wasm formats, or the bytes are not a Wasm module.</summary>
public sealed class UnsupportedFormatException : ModuleFetchException
{
    /// <summary>Creates the error naming the media types seen.</summary>
    public UnsupportedFormatException(string url, IReadOnlyList<string> mediaTypesSeen, string detail)
        : base(url, $"{url}: {detail}" + (mediaTypesSeen.Count > 0 ? $" (media types seen: {string.Join(", ", mediaTypesSeen)})" : string.Empty)
            + "; publish the module as a CNCF Wasm artifact (application/wasm layer), an Istio or wasm-to-oci artifact, or an image whose last layer holds plugin.wasm")
    {
        MediaTypesSeen = mediaTypesSeen;
    }

    /// <summary>Manifest, config and layer media types found in the artifact.</summary>
    public IReadOnlyList<string> MediaTypesSeen { get; }

    /// <inheritdoc />
    public override string Result => "unsupported_format";
}
