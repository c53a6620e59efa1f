namespace WasmOperator.Operator.Reconciliation;

/// <summary>Where one pass of the pipeline ended: ready, waiting on a transient fault, or stalled until the spec changes.</summary>
internal sealed record PluginOutcome
{
    public required OutcomeKind Kind { get; init; }

    /// <summary>CamelCase reason for the conditions.</summary>
    public required string Reason { get; init; }

    public required string Message { get; init; }

    /// <summary>True when the failure is about the module itself (digest, ABI): ModuleVerified turns False.</summary>
    public bool ModuleRejected { get; init; }

    /// <summary>
    /// Set on a plugin stalled by what its URL served under pull policy Always: the URL is resolved again on this
    /// interval, as the content may be republished, so the plugin is not only waiting for a spec change.
    /// </summary>
    public TimeSpan? ResolvedAgainEvery { get; init; }

    /// <summary>Set on a transient failure that cannot pass before this time (the registry's circuit breaker is open): reconciled again then.</summary>
    public DateTimeOffset? RetryAt { get; init; }

    /// <summary>
    /// Set with <see cref="RetryAt"/> when the fetch was refused only because another fetch is probing the registry: the
    /// probe's outcome is the news, due by then. The registry named is the one that failed (or its storage, token realm).
    /// </summary>
    public string? AwaitsProbeOf { get; init; }

    /// <summary>Set on a transient failure likely to pass soon (a tag not pushed yet): retried with backoff, but at most this far apart.</summary>
    public TimeSpan? RetriedAtMostEvery { get; init; }

    /// <summary>What the check found that does not stop a load but will fail calls (imports the host does not provide), for ModuleVerified.</summary>
    public string? ModuleNote { get; init; }

    /// <summary>The verified desired state, when <see cref="Kind"/> is Ready.</summary>
    public DesiredPlugin? Desired { get; init; }

    /// <summary>The module as fetched and checked, when it got that far.</summary>
    public Api.WasmPlugins.ModuleStatus? Module { get; init; }

    public static PluginOutcome Transient(string reason, string message) => new() { Kind = OutcomeKind.Transient, Reason = reason, Message = message };

    public static PluginOutcome Stalled(string reason, string message, bool moduleRejected = false) =>
        new() { Kind = OutcomeKind.Stalled, Reason = reason, Message = message, ModuleRejected = moduleRejected };
}
