namespace WasmOperator.Proxy.Chain;

/// <summary>A reference count that cannot come back from zero: once the last reference went, nobody takes a new one.</summary>
internal static class RefCount
{
    /// <summary>Adds a reference unless the count already reached zero (the object is released or being released).</summary>
    public static bool TryAdd(ref int count)
    {
        while (true)
        {
            var n = Volatile.Read(ref count);
            if (n == 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref count, n + 1, n) == n)
            {
                return true;
            }
        }
    }
}
