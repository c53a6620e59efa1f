namespace WasmOperator.Operator.Reconciliation;

/// <summary>Settings of the WasmPlugin reconciler.</summary>
internal sealed record ReconcilerOptions
{
    /// <summary>How often a plugin with pull policy Always is resolved again without a spec change.</summary>
    public TimeSpan AlwaysPullInterval { get; init; } = TimeSpan.FromMinutes(5);
}
