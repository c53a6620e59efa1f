namespace WasmOperator.Operator.Runtime.RateLimiting;

/// <summary>Decides how long an item waits before it is retried (client-go's workqueue.RateLimiter).</summary>
internal interface IRateLimiter<in T>
{
    /// <summary>
    /// The delay before <paramref name="item"/> may be processed again; counts one more failure. <paramref name="itemCap"/>
    /// caps the item's own backoff only, never a delay shared by all items (the overall rate).
    /// </summary>
    TimeSpan When(T item, TimeSpan? itemCap = null);

    /// <summary>Forgets the failures of <paramref name="item"/> (it succeeded).</summary>
    void Forget(T item);

    /// <summary>How many times <paramref name="item"/> was requeued since it was last forgotten.</summary>
    int NumRequeues(T item);
}
