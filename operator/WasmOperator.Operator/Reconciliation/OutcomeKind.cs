namespace WasmOperator.Operator.Reconciliation;

/// <summary>The three ends of a reconcile, which map onto kstatus conditions.</summary>
internal enum OutcomeKind
{
    /// <summary>The desired revision was handed to the distributor.</summary>
    Ready,

    /// <summary>A fault that may go away by itself: Reconciling=True, retried with backoff.</summary>
    Transient,

    /// <summary>
    /// Cannot progress without a spec change: Stalled=True, not retried; with pull policy Always, a module the URL
    /// served that was rejected is resolved again on the Always interval, as a republished one may be good.
    /// </summary>
    Stalled,
}
