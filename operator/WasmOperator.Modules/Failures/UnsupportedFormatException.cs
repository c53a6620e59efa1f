namespace WasmOperator.Modules.Failures;

/// <summary>The artifact is not one of the supported Wasm formats, or the bytes are not a Wasm module.</summary>
public sealed class UnsupportedFormatException : ModuleFetchException
{
    /// <summary>Creates the error naming the media types seen.</summary>
    public UnsupportedFormatException(string url, IReadOnlyList<string> mediaTypesSeen, string detail)
        : base(url, $"{url}: {detail}" + (mediaTypesSeen.Count > 0 ? $" (media types seen: {string.Join(", ", mediaTypesSeen)})" : string.Empty)
            + $"; {RemedyFor(url)}")
    {
        MediaTypesSeen = mediaTypesSeen;
    }

    /// <summary>Manifest, config and layer media types found in the artifact.</summary>
    public IReadOnlyList<string> MediaTypesSeen { get; }

    /// <inheritdoc />
    public override string Result => "unsupported_format";

    // What to change depends on where the module comes from: an OCI artifact's advice meant nothing for a file:// url.
    private static string RemedyFor(string url) =>
        ModuleUrls.IsFile(url)
            ? "point the url at a compiled Wasm module (a file that starts with \\0asm, such as a build's plugin.wasm)"
            : ModuleUrls.IsHttp(url)
                ? "serve the compiled Wasm module itself (bytes that start with \\0asm) at this url, or use an oci:// url of a Wasm artifact"
                : "publish the module as a CNCF Wasm artifact (application/wasm layer), an Istio or wasm-to-oci artifact, or an image whose last layer is a tar+gzip layer holding plugin.wasm";
}
