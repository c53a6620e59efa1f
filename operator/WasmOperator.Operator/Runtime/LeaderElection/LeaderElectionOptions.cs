namespace WasmOperator.Operator.Runtime.LeaderElection;

/// <summary>Lease leader election timings (client-go defaults: 15 s / 10 s / 2 s).</summary>
internal sealed record LeaderElectionOptions
{
    public required string LeaseName { get; init; }

    public required string LeaseNamespace { get; init; }

    /// <summary>This replica's identity, written as the lease holder.</summary>
    public required string Identity { get; init; }

    /// <summary>How long a lease is honoured after its last renewal.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long the leader keeps trying to renew before it gives leadership up.</summary>
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often to try to acquire or renew.</summary>
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);
}
