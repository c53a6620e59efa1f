using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using WasmOperator.Operator.Runtime.Metrics;

namespace WasmOperator.Operator.Runtime.LeaderElection;

/// <summary>
/// Leader election on a coordination.k8s.io Lease, as client-go does it: a candidate takes the lease when it
/// is free or its holder's renewal is older than the lease duration (measured on the local clock from when
/// this replica last saw the record change, so clocks need not agree); the leader renews every retry period
/// and gives up when it cannot renew within the renew deadline. Writes use the lease's resourceVersion, so
/// two candidates never both win. On shutdown the leader releases the lease so a standby takes over at once.
/// </summary>
internal sealed partial class LeaseLeaderElector(
    IKubernetes client,
    LeaderElectionOptions options,
    ControllerMetrics metrics,
    ILogger logger,
    TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private string? _observedRecord;
    private long _observedAt;
    private volatile bool _leading;

    public event Func<CancellationToken, Task>? StartedLeading;

    public event Action? StoppedLeading;

    public bool IsLeader => _leading;

    public string Identity => options.Identity;

    /// <summary>Campaigns, leads, and campaigns again after losing the lease, until cancelled; then releases it.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        CancellationTokenSource? leadership = null;
        long lastRenew = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var renewed = await TryAcquireOrRenewAsync(cancellationToken).ConfigureAwait(false);
                if (renewed)
                {
                    lastRenew = _time.GetTimestamp();
                    if (!_leading)
                    {
                        _leading = true;
                        metrics.LeaderStatus.WithLabels(options.LeaseName).Set(1);
                        LogStarted(logger, options.Identity, options.LeaseNamespace, options.LeaseName);
                        leadership = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                        if (StartedLeading is { } started)
                        {
                            // Not awaited: starting to lead (waiting for caches) must never delay the next renewal.
                            var token = leadership.Token;
                            _ = Task.Run(() => started(token), CancellationToken.None);
                        }
                    }
                }
                else if (_leading && _time.GetElapsedTime(lastRenew) > options.RenewDeadline)
                {
                    StopLeading(ref leadership);
                }

                try
                {
                    await Task.Delay(Jittered(options.RetryPeriod), _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            if (_leading)
            {
                await ReleaseAsync().ConfigureAwait(false);
                StopLeading(ref leadership);
            }

            leadership?.Dispose();
        }
    }

    private static TimeSpan Jittered(TimeSpan period) => period * (1 + (Random.Shared.NextDouble() * 0.2));

    private void StopLeading(ref CancellationTokenSource? leadership)
    {
        _leading = false;
        metrics.LeaderStatus.WithLabels(options.LeaseName).Set(0);
        LogStopped(logger, options.Identity, options.LeaseNamespace, options.LeaseName);
        leadership?.Cancel();
        leadership?.Dispose();
        leadership = null;
        StoppedLeading?.Invoke();
    }

    private async Task<bool> TryAcquireOrRenewAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        try
        {
            V1Lease lease;
            try
            {
                lease = await client.CoordinationV1.ReadNamespacedLeaseAsync(options.LeaseName, options.LeaseNamespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
            {
                var created = new V1Lease
                {
                    Metadata = new V1ObjectMeta { Name = options.LeaseName, NamespaceProperty = options.LeaseNamespace },
                    Spec = new V1LeaseSpec
                    {
                        HolderIdentity = options.Identity,
                        LeaseDurationSeconds = (int)Math.Ceiling(options.LeaseDuration.TotalSeconds),
                        AcquireTime = now,
                        RenewTime = now,
                        LeaseTransitions = 0,
                    },
                };
                await client.CoordinationV1.CreateNamespacedLeaseAsync(created, options.LeaseNamespace, cancellationToken: cancellationToken).ConfigureAwait(false);
                Observe(created.Spec);
                return true;
            }

            var spec = lease.Spec ?? new V1LeaseSpec();
            Observe(spec);
            var holder = spec.HolderIdentity;
            var heldByOther = !string.IsNullOrEmpty(holder) && holder != options.Identity;
            var duration = TimeSpan.FromSeconds(spec.LeaseDurationSeconds ?? (int)options.LeaseDuration.TotalSeconds);
            if (heldByOther && _time.GetElapsedTime(_observedAt) < duration)
            {
                return false;
            }

            var transitions = spec.LeaseTransitions ?? 0;
            lease.Spec = new V1LeaseSpec
            {
                HolderIdentity = options.Identity,
                LeaseDurationSeconds = (int)Math.Ceiling(options.LeaseDuration.TotalSeconds),
                AcquireTime = holder == options.Identity ? spec.AcquireTime ?? now : now,
                RenewTime = now,
                LeaseTransitions = holder == options.Identity ? transitions : transitions + 1,
            };

            // Replace carries the resourceVersion read above: a competing write makes this a 409, not a second leader.
            await client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, options.LeaseName, options.LeaseNamespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            Observe(lease.Spec);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception ex)
        {
            // Whatever went wrong, this round is lost; the renew deadline decides about leadership.
            LogRenewFailed(logger, options.Identity, ex.Message);
            return false;
        }
    }

    private void Observe(V1LeaseSpec spec)
    {
        var record = $"{spec.HolderIdentity}|{spec.RenewTime:O}|{spec.LeaseTransitions}";
        if (record != _observedRecord)
        {
            _observedRecord = record;
            _observedAt = _time.GetTimestamp();
        }
    }

    private async Task ReleaseAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(options.RenewDeadline);
            var lease = await client.CoordinationV1.ReadNamespacedLeaseAsync(options.LeaseName, options.LeaseNamespace, cancellationToken: timeout.Token).ConfigureAwait(false);
            if (lease.Spec?.HolderIdentity != options.Identity)
            {
                return;
            }

            // client-go's release: empty holder, 1 s duration, so any candidate may take it now.
            var now = _time.GetUtcNow().UtcDateTime;
            lease.Spec.HolderIdentity = null;
            lease.Spec.LeaseDurationSeconds = 1;
            lease.Spec.RenewTime = now;
            lease.Spec.AcquireTime = now;
            await client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, options.LeaseName, options.LeaseNamespace, cancellationToken: timeout.Token).ConfigureAwait(false);
            LogReleased(logger, options.Identity, options.LeaseNamespace, options.LeaseName);
        }
        catch (Exception ex)
        {
            LogRenewFailed(logger, options.Identity, "release failed: " + ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} became the leader of lease {Namespace}/{Name}")]
    private static partial void LogStarted(ILogger logger, string identity, string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Identity} stopped leading lease {Namespace}/{Name}")]
    private static partial void LogStopped(ILogger logger, string identity, string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} released lease {Namespace}/{Name}")]
    private static partial void LogReleased(ILogger logger, string identity, string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Identity} could not acquire or renew the lease: {Error}")]
    private static partial void LogRenewFailed(ILogger logger, string identity, string error);
}
