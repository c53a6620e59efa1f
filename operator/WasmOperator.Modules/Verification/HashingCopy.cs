using System.Buffers;
using System.Security.Cryptography;

namespace WasmOperator.Modules.Verification;

/// <summary>Streams bytes into a file while hashing them, stopping at a size limit.</summary>
internal static class HashingCopy
{
    /// <summary>Result of a copy: digest and byte count, or <see cref="LimitExceeded"/> set.</summary>
    public readonly record struct Outcome(string Digest, long Size, bool LimitExceeded);

    public static async Task<Outcome> CopyAsync(Stream source, string destinationPath, long limit, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(81920);
        long total = 0;
        try
        {
            await using var destination = new FileStream(destinationPath, FileMode.Create, FileAccess.Write, FileShare.None, 81920, useAsync: true);
            while (true)
            {
                var read = await source.ReadAsync(buffer.AsMemory(), cancellationToken);
                if (read == 0)
                {
                    break;
                }

                total += read;
                if (total > limit)
                {
                    return new Outcome(string.Empty, total, LimitExceeded: true);
                }

                hash.AppendData(buffer, 0, read);
                await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }

            await destination.FlushAsync(cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return new Outcome(Sha256Digest.Format(hash.GetHashAndReset()), total, LimitExceeded: false);
    }
}
