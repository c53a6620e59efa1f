using System.Buffers.Binary;
using System.IO.Compression;
using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// The foreign functions Envoy offers every plugin that make sense outside Envoy (<c>foreign.cc</c>):
/// <c>compress</c> and <c>uncompress</c> (zlib format). A plugin's own registration of the same name wins.
/// Envoy's <c>declare_property</c>, <c>set_envoy_filter_state</c>, <c>clear_route_cache</c> and the CEL
/// <c>expr_*</c> functions are Envoy-specific and answer NOT_FOUND.
/// </summary>
public static class BuiltInForeignFunctions
{
    /// <summary>Name of the zlib compressor.</summary>
    public const string Compress = "compress";

    /// <summary>Name of the zlib decompressor.</summary>
    public const string Uncompress = "uncompress";

    /// <summary>The built-ins for a plugin whose linear memory may hold at most <paramref name="maxResultBytes"/>.</summary>
    public static IReadOnlyDictionary<string, ForeignFunction> Create(long maxResultBytes) => new Dictionary<string, ForeignFunction>(StringComparer.Ordinal)
    {
        [Compress] = CompressZlib,
        [Uncompress] = (ReadOnlySpan<byte> arguments, out byte[] result) => UncompressZlib(arguments, maxResultBytes, out result),
    };

    /// <summary>zlib <c>compress</c>: OK with the zlib stream of <paramref name="arguments"/>.</summary>
    public static ProxyStatus CompressZlib(ReadOnlySpan<byte> arguments, out byte[] result)
    {
        using var output = new MemoryStream(arguments.Length / 2 + 64);
        using (var zlib = new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            zlib.Write(arguments);
        }

        result = output.ToArray();
        return ProxyStatus.Ok;
    }

    /// <summary>
    /// zlib <c>uncompress</c>: OK with the inflated bytes; SERIALIZATION_FAILURE (as Envoy answers)
    /// for data that is not a complete zlib stream or inflates past <paramref name="maxResultBytes"/>.
    /// </summary>
    public static ProxyStatus UncompressZlib(ReadOnlySpan<byte> arguments, long maxResultBytes, out byte[] result)
    {
        result = [];
        if (arguments.IsEmpty)
        {
            return ProxyStatus.SerializationFailure; // zlib: Z_BUF_ERROR
        }

        using var input = new MemoryStream(arguments.ToArray(), writable: false);
        using var zlib = new ZLibStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream(arguments.Length * 2 + 2);
        var chunk = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = zlib.Read(chunk)) > 0)
            {
                if (output.Length + read > maxResultBytes)
                {
                    return ProxyStatus.SerializationFailure;
                }

                output.Write(chunk, 0, read);
            }
        }
        catch (InvalidDataException)
        {
            return ProxyStatus.SerializationFailure;
        }

        // ZLibStream ends quietly on a truncated stream; zlib's uncompress does not (Z_BUF_ERROR).
        // A complete stream ends with the Adler-32 of its content, so compare that.
        result = output.ToArray();
        if (arguments.Length < 6 || BinaryPrimitives.ReadUInt32BigEndian(arguments[^4..]) != Adler32(result))
        {
            result = [];
            return ProxyStatus.SerializationFailure;
        }

        return ProxyStatus.Ok;
    }

    private static uint Adler32(ReadOnlySpan<byte> data)
    {
        const uint Modulus = 65521;
        uint a = 1, b = 0;
        while (!data.IsEmpty)
        {
            // 5552 bytes is the longest run before b can overflow 32 bits (zlib NMAX).
            var run = data[..Math.Min(data.Length, 5552)];
            foreach (var value in run)
            {
                a += value;
                b += a;
            }

            a %= Modulus;
            b %= Modulus;
            data = data[run.Length..];
        }

        return (b << 16) | a;
    }
}
