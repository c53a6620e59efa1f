using System.Buffers.Binary;

namespace WasmOperator.Proxy.Proxying;

/// <summary>gRPC length-prefixed messages: 1 byte compressed flag (always 0 here), 4 bytes big-endian length, payload.</summary>
internal static class GrpcFraming
{
    public const int PrefixSize = 5;

    /// <summary>One uncompressed frame holding <paramref name="message"/>.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> message)
    {
        var frame = new byte[PrefixSize + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame.AsSpan(PrefixSize));
        return frame;
    }

    /// <summary>Reads the first complete frame of <paramref name="buffer"/>; <paramref name="consumed"/> is its size.</summary>
    public static bool TryRead(ReadOnlySpan<byte> buffer, out byte[] message, out int consumed)
    {
        if (buffer.Length >= PrefixSize)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(buffer[1..]);
            if (length <= (uint)(buffer.Length - PrefixSize))
            {
                message = buffer.Slice(PrefixSize, (int)length).ToArray();
                consumed = PrefixSize + (int)length;
                return true;
            }
        }

        message = [];
        consumed = 0;
        return false;
    }
}
