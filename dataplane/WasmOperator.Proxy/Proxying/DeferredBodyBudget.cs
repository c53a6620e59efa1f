namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// The bytes of request and response bodies kept, across the proxy, for LOG_ONLY plugins whose request-headers pause is
/// unresolved (<see cref="Exchange"/>'s deferral): bounded by <c>--max-deferred-body-bytes</c>, as a slow authorizer
/// would otherwise have every body of every request kept until it answers. Touched only while a plugin's callbacks wait.
/// </summary>
internal sealed class DeferredBodyBudget
{
    private long _kept;

    /// <summary>Bytes kept now.</summary>
    public long Kept => Interlocked.Read(ref _kept);

    /// <summary>Takes <paramref name="bytes"/> from the budget; false (nothing taken) when that would pass <paramref name="limit"/>.</summary>
    public bool TryKeep(int bytes, long limit)
    {
        var kept = Interlocked.Read(ref _kept);
        while (true)
        {
            if (kept + bytes > limit)
            {
                return false;
            }

            var seen = Interlocked.CompareExchange(ref _kept, kept + bytes, kept);
            if (seen == kept)
            {
                return true;
            }

            kept = seen;
        }
    }

    /// <summary>Gives back bytes taken: they were delivered, dropped, or their context completed.</summary>
    public void Return(long bytes)
    {
        if (bytes != 0)
        {
            Interlocked.Add(ref _kept, -bytes);
        }
    }
}
