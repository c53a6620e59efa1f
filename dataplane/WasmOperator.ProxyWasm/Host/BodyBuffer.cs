namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// A growable byte buffer for a request or response body. The proxy appends received chunks before
/// calling the body callback; the plugin may read and rewrite it (Envoy <c>set_buffer_bytes</c> rules).
/// </summary>
public sealed class BodyBuffer
{
    private byte[] _bytes;

    /// <summary>Creates an empty buffer.</summary>
    public BodyBuffer(int capacity = 0) => _bytes = capacity == 0 ? [] : new byte[capacity];

    /// <summary>Number of bytes in the buffer.</summary>
    public int Length { get; private set; }

    /// <summary>The current contents.</summary>
    public ReadOnlySpan<byte> Span => _bytes.AsSpan(0, Length);

    /// <summary>Appends bytes (a received chunk).</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        EnsureCapacity(Length + data.Length);
        data.CopyTo(_bytes.AsSpan(Length));
        Length += data.Length;
    }

    /// <summary>Replaces <paramref name="count"/> bytes at <paramref name="start"/> with <paramref name="data"/>.</summary>
    public void Splice(int start, int count, ReadOnlySpan<byte> data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + count, Length);
        var tail = Length - start - count;
        var newLength = start + data.Length + tail;
        var result = new byte[Math.Max(newLength, 16)];
        _bytes.AsSpan(0, start).CopyTo(result);
        data.CopyTo(result.AsSpan(start));
        _bytes.AsSpan(start + count, tail).CopyTo(result.AsSpan(start + data.Length));
        _bytes = result;
        Length = newLength;
    }

    /// <summary>Removes all bytes.</summary>
    public void Clear() => Length = 0;

    /// <summary>A copy of the contents.</summary>
    public byte[] ToArray() => Span.ToArray();

    private void EnsureCapacity(int needed)
    {
        if (needed > _bytes.Length)
        {
            Array.Resize(ref _bytes, Math.Max(needed, Math.Max(16, _bytes.Length * 2)));
        }
    }
}
