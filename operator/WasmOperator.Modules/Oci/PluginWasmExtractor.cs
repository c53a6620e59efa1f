using System.Formats.Tar;
using System.IO.Compression;
using WasmOperator.Modules.Verification;

namespace WasmOperator.Modules.Oci;

/// <summary>Takes <c>plugin.wasm</c> out of a tar+gzip image layer (Istio's Docker image format).</summary>
internal static class PluginWasmExtractor
{
    /// <summary>Returns null when the layer has no plugin.wasm at its root.</summary>
    /// <exception cref="InvalidDataException">The layer is not tar+gzip.</exception>
    public static async Task<HashingCopy.Outcome?> ExtractAsync(string layerPath, string destination, long limit, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(layerPath, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
        await using var gzip = new GZipStream(file, CompressionMode.Decompress);
        await using var tar = new TarReader(gzip);
        while (await tar.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
        {
            var name = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
            name = name.TrimStart('/');
            if (name == "plugin.wasm" && entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.DataStream is { } data)
            {
                return await HashingCopy.CopyAsync(data, destination, limit, cancellationToken);
            }
        }

        return null;
    }
}
