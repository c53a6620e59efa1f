using System.Security.Cryptography;

namespace WasmOperator.Modules.Verification;

/// <summary>Parsing and formatting of <c>sha256:&lt;64 hex&gt;</c> digests.</summary>
internal static class Sha256Digest
{
    public const string Prefix = "sha256:";

    /// <summary>Accepts <c>sha256:hex</c> or bare hex (64 lowercase hex); returns <c>sha256:hex</c> or null.</summary>
    public static string? TryNormalize(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        var hex = value.StartsWith(Prefix, StringComparison.Ordinal) ? value[Prefix.Length..] : value;
        if (hex.Length != 64)
        {
            return null;
        }

        foreach (var c in hex)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return null;
            }
        }

        return Prefix + hex;
    }

    public static string Hex(string digest) => digest[Prefix.Length..];

    public static string Of(ReadOnlySpan<byte> bytes) => Format(SHA256.HashData(bytes));

    public static string Format(ReadOnlySpan<byte> hash) => Prefix + Convert.ToHexStringLower(hash);

    public static async Task<string> OfFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
        var hash = await SHA256.HashDataAsync(stream, cancellationToken);
        return Format(hash);
    }
}
