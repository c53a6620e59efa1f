namespace WasmOperator.Operator.Runtime.RateLimiting;

/// <summary>Per-item backoff: <c>baseDelay · 2^failures</c>, capped at <c>maxDelay</c> (client-go: 5 ms, 1000 s).</summary>
internal sealed class ExponentialFailureRateLimiter<T>(TimeSpan baseDelay, TimeSpan maxDelay) : IRateLimiter<T>
    where T : notnull
{
    private readonly Dictionary<T, int> _failures = [];
    private readonly Lock _lock = new();

    public TimeSpan When(T item, TimeSpan? itemCap = null)
    {
        int exponent;
        lock (_lock)
        {
            _failures.TryGetValue(item, out exponent);
            _failures[item] = exponent + 1;
        }

        // 2^62 overflows a TimeSpan long before this; compare in double first.
        var cap = itemCap is { } shorter && shorter < maxDelay ? shorter : maxDelay;
        var delay = baseDelay.TotalMilliseconds * Math.Pow(2, exponent);
        return delay >= cap.TotalMilliseconds ? cap : TimeSpan.FromMilliseconds(delay);
    }

    public void Forget(T item)
    {
        lock (_lock)
        {
            _failures.Remove(item);
        }
    }

    public int NumRequeues(T item)
    {
        lock (_lock)
        {
            return _failures.TryGetValue(item, out var n) ? n : 0;
        }
    }
}
