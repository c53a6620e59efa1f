namespace WasmOperator.Operator.Runtime.RateLimiting;

/// <summary>Decides how long an item waits before it is retried (client-go's workqueue.RateLimiter).</summary>
internal interface IRateLimiter<in T>
{
    /// <summary>The delay before <paramref name="item"/> may be processed again; counts one more failure.</summary>
    TimeSpan When(T item);

    /// <summary>Forgets the failures of <paramref name="item"/> (it succeeded).</summary>
    void Forget(T item);

    /// <summary>How many times <paramref name="item"/> was requeued since it was last forgotten.</summary>
    int NumRequeues(T item);
}
