using System.Buffers.Binary;
using System.Text;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.ProxyWasm.Abi;

/// <summary>
/// The Proxy-Wasm pairs format (cpp-host pairs_util): u32 count, count×(u32 key_len, u32 val_len),
/// then key\0val\0…, all little-endian. Empty maps are emitted as 0 bytes and accepted as 0 bytes,
/// 1 byte or a 4-byte zero count. Pairs carry header fields, so names and values are bytes as they are,
/// one char per byte (Latin-1) in a <see cref="HeaderMap"/>.
/// </summary>
internal static class Pairs
{
    public const int MaxBytes = 1 << 20;
    public const int MaxPairs = 1024;

    public static int SerializedSize(HeaderMap map) => map.Count == 0 ? 0 : (int)SerializedSize(map.Count, map.ByteSize);

    /// <summary>The encoding's size for <paramref name="count"/> pairs of <paramref name="bytes"/> name and value bytes in all.</summary>
    public static long SerializedSize(long count, long bytes) => 4 + bytes + (10 * count);

    /// <summary>Writes <paramref name="map"/> into <paramref name="destination"/>, which is exactly <see cref="SerializedSize"/> long.</summary>
    public static void Serialize(HeaderMap map, Span<byte> destination)
    {
        if (map.Count == 0)
        {
            return;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)map.Count);
        var lengths = destination[4..];
        var data = destination[(4 + (8 * map.Count))..];
        for (var i = 0; i < map.Count; i++)
        {
            var entry = map[i];
            var k = Encoding.Latin1.GetBytes(entry.Key, data);
            data[k] = 0;
            data = data[(k + 1)..];
            var v = Encoding.Latin1.GetBytes(entry.Value, data);
            data[v] = 0;
            data = data[(v + 1)..];
            BinaryPrimitives.WriteUInt32LittleEndian(lengths, (uint)k);
            BinaryPrimitives.WriteUInt32LittleEndian(lengths[4..], (uint)v);
            lengths = lengths[8..];
        }
    }

    /// <summary>Parses pairs into <paramref name="target"/> (appending). False if malformed or over the limits.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, HeaderMap target)
    {
        if (bytes.Length > MaxBytes)
        {
            return false;
        }

        if (bytes.Length < 4)
        {
            return bytes.Length <= 1;
        }

        var count = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        if (count > MaxPairs || (ulong)bytes.Length < 4 + (8UL * count))
        {
            return false;
        }

        var lengths = bytes[4..];
        var data = bytes[(4 + (8 * (int)count))..];
        for (var i = 0; i < count; i++)
        {
            var k = BinaryPrimitives.ReadUInt32LittleEndian(lengths);
            var v = BinaryPrimitives.ReadUInt32LittleEndian(lengths[4..]);
            lengths = lengths[8..];
            if ((ulong)k + v + 2 > (ulong)data.Length || data[(int)k] != 0 || data[(int)(k + 1 + v)] != 0)
            {
                return false;
            }

            target.Add(Encoding.Latin1.GetString(data[..(int)k]), Encoding.Latin1.GetString(data.Slice((int)k + 1, (int)v)));
            data = data[(int)(k + v + 2)..];
        }

        return data.IsEmpty;
    }
}
