using System.Security.Cryptography;

namespace WasmOperator.Proxy.Chain;

/// <summary>
/// A file:// module as an apply read it: its stamp, taken just before the read (a write racing the read then shows as
/// a change), and the SHA-256 of the bytes read (null if the read failed).
/// </summary>
internal sealed record ModuleFile(ModuleStamp Stamp, byte[]? Sha256)
{
    /// <summary>
    /// Whether the file is no longer what was read: its stamp differs, or, when <paramref name="compareContent"/>, its
    /// bytes do. A stat misses a module replaced by one of the same size and write time (<c>cp -p</c>, <c>tar -x</c>,
    /// <c>rsync -t</c>, image layers with fixed times); only the bytes tell, at the price of reading and hashing them.
    /// </summary>
    public bool Changed(bool compareContent)
    {
        if (ModuleStamp.Of(Stamp.Path) != Stamp)
        {
            return true;
        }

        return compareContent && Sha256 is not null && !Sha256.AsSpan().SequenceEqual(HashOf(Stamp.Path));
    }

    private static ReadOnlySpan<byte> HashOf(string path)
    {
        try
        {
            // Streamed (no buffer of the module's size), as the module may be large.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
            return SHA256.HashData(stream);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Unreadable now: a change (the apply that follows reports why).
            return [];
        }
    }
}
