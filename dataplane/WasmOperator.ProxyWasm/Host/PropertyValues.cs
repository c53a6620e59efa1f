using System.Buffers.Binary;

namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// Property values (<c>proxy_get_property</c>) encoded as Envoy encodes them (serializeValue in
/// source/extensions/common/wasm/context.cc), so that the SDKs' typed getters read them: strings and bytes as they
/// are; integers, timestamps and durations (nanoseconds) as 8 bytes little-endian; booleans as one byte; maps (a
/// header map, a protobuf Struct such as <c>node.metadata</c>) in the pairs encoding with each value itself encoded;
/// other protobuf messages in their wire format.
/// </summary>
public static class PropertyValues
{
    /// <summary>An Int64 (or a Uint64, a timestamp, a duration) as 8 bytes little-endian.</summary>
    public static byte[] Int64(long value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        return bytes;
    }

    /// <summary>A boolean as one byte, 1 or 0.</summary>
    public static byte[] Bool(bool value) => [value ? (byte)1 : (byte)0];

    /// <summary>
    /// A map in the pairs encoding (u32 count, count × (u32 key length, u32 value length), then each key and value
    /// NUL-terminated), its values already encoded (a nested map's value is its own pairs). An empty map is 0 bytes,
    /// as the header maps are (an SDK reads a non-empty buffer's first 4 bytes as the count).
    /// </summary>
    public static byte[] Map(IReadOnlyList<KeyValuePair<byte[], byte[]>> entries)
    {
        if (entries.Count == 0)
        {
            return [];
        }

        long bytes = 0;
        foreach (var (key, value) in entries)
        {
            bytes += key.Length + value.Length;
        }

        var result = new byte[checked((int)Abi.Pairs.SerializedSize(entries.Count, bytes))];
        BinaryPrimitives.WriteUInt32LittleEndian(result, (uint)entries.Count);
        var lengths = result.AsSpan(4);
        var data = result.AsSpan(4 + (8 * entries.Count));
        foreach (var (key, value) in entries)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(lengths, (uint)key.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(lengths[4..], (uint)value.Length);
            lengths = lengths[8..];
            key.CopyTo(data);
            value.CopyTo(data[(key.Length + 1)..]);
            data = data[(key.Length + value.Length + 2)..];
        }

        return result;
    }
}
