namespace WasmOperator.Operator.Runtime.RateLimiting;

/// <summary>The longest delay of several limiters (client-go's DefaultControllerRateLimiter shape).</summary>
internal sealed class MaxOfRateLimiter<T>(params IRateLimiter<T>[] limiters) : IRateLimiter<T>
{
    public TimeSpan When(T item, TimeSpan? itemCap = null)
    {
        var longest = TimeSpan.Zero;
        foreach (var limiter in limiters)
        {
            var delay = limiter.When(item, itemCap);
            longest = delay > longest ? delay : longest;
        }

        return longest;
    }

    public void Forget(T item)
    {
        foreach (var limiter in limiters)
        {
            limiter.Forget(item);
        }
    }

    public int NumRequeues(T item)
    {
        var most = 0;
        foreach (var limiter in limiters)
        {
            most = Math.Max(most, limiter.NumRequeues(item));
        }

        return most;
    }
}
