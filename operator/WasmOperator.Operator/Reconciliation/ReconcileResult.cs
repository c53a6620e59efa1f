namespace WasmOperator.Operator.Reconciliation;

/// <summary>What the controller does with a key after a reconcile (controller-runtime's reconcile.Result).</summary>
internal sealed record ReconcileResult
{
    public static readonly ReconcileResult Done = new();

    /// <summary>Retry with the per-item backoff (a transient fault: network, registry, conflict).</summary>
    public static readonly ReconcileResult Retry = new() { Error = true };

    /// <summary>The reconcile failed transiently; the key is re-added rate-limited and counted as an error.</summary>
    public bool Error { get; init; }

    /// <summary>With <see cref="Error"/>: the per-item backoff is capped at this delay (a fault that may pass soon).</summary>
    public TimeSpan? MaxBackoff { get; init; }

    /// <summary>Reconcile again after this delay even without a change (e.g. re-resolve a tag for Always).</summary>
    public TimeSpan? RequeueAfter { get; init; }

    public static ReconcileResult After(TimeSpan delay) => new() { RequeueAfter = delay };
}
