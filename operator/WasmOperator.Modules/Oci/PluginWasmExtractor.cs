using System.Formats.Tar;
using System.IO.Compression;
using WasmOperator.Modules.Verification;

namespace WasmOperator.Modules.Oci;

/// <summary>
/// Takes <c>plugin.wasm</c> out of a tar+gzip image layer (Istio's Docker image format). As Istio's image fetcher
/// (<c>filepath.Base(name) == "plugin.wasm"</c>) the file may sit in a folder (<c>plugins/plugin.wasm</c>); one at the
/// layer's root wins over one in a folder, else the first in the layer.
/// </summary>
internal static class PluginWasmExtractor
{
    private const string FileName = "plugin.wasm";

    /// <summary>Returns null when the layer has no plugin.wasm.</summary>
    /// <exception cref="InvalidDataException">The layer is not tar+gzip.</exception>
    public static async Task<HashingCopy.Outcome?> ExtractAsync(string layerPath, string destination, long limit, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(layerPath, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
        await using var gzip = new GZipStream(file, CompressionMode.Decompress);
        await using var tar = new TarReader(gzip);
        HashingCopy.Outcome? nested = null;
        while (await tar.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
        {
            var name = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
            name = name.TrimStart('/');
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is not { } data ||
                !string.Equals(Path.GetFileName(name), FileName, StringComparison.Ordinal))
            {
                continue;
            }

            if (name == FileName)
            {
                return await HashingCopy.CopyAsync(data, destination, limit, cancellationToken);
            }

            // In a folder: kept unless one at the root follows (it overwrites the copy).
            nested ??= await HashingCopy.CopyAsync(data, destination, limit, cancellationToken);
        }

        return nested;
    }
}
