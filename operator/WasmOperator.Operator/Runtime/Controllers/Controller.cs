using System.Diagnostics;
using Microsoft.Extensions.Logging;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Runtime.Metrics;
using WasmOperator.Operator.Runtime.Queue;

namespace WasmOperator.Operator.Runtime.Controllers;

/// <summary>
/// Workers that take keys from the queue and reconcile them (controller-runtime's controller): success
/// forgets the key's backoff, an error re-adds it rate-limited, RequeueAfter re-adds it delayed. The queue
/// guarantees a key is never reconciled by two workers at once.
/// </summary>
internal sealed partial class Controller(
    string name,
    WorkQueue<string> queue,
    Func<string, CancellationToken, Task<ReconcileResult>> reconcile,
    ControllerMetrics metrics,
    ILogger logger)
{
    private long _reconciles;

    /// <summary>Reconciles finished (any result) since start.</summary>
    public long Reconciles => Interlocked.Read(ref _reconciles);

    /// <summary>Runs <paramref name="workers"/> workers until <paramref name="cancellationToken"/> is cancelled.</summary>
    public Task RunAsync(int workers, CancellationToken cancellationToken)
    {
        var tasks = new Task[workers];
        for (var i = 0; i < workers; i++)
        {
            tasks[i] = Task.Run(() => WorkAsync(cancellationToken), CancellationToken.None);
        }

        return Task.WhenAll(tasks);
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var (ok, key) = await queue.GetAsync(cancellationToken).ConfigureAwait(false);
            if (!ok)
            {
                return;
            }

            var started = Stopwatch.GetTimestamp();
            string result;
            try
            {
                var outcome = await reconcile(key, cancellationToken).ConfigureAwait(false);
                if (outcome.Error)
                {
                    result = "error";
                    metrics.ReconcileErrors.WithLabels(name).Inc();
                    queue.AddRateLimited(key, outcome.MaxBackoff);
                }
                else if (outcome.RequeueAfter is { } after)
                {
                    result = "requeue_after";
                    queue.Forget(key);
                    queue.AddAfter(key, after);
                }
                else
                {
                    result = "success";
                    queue.Forget(key);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Leadership lost or shutting down: whoever leads next reconciles everything anyway.
                queue.Done(key);
                return;
            }
            catch (Exception ex)
            {
                result = "error";
                metrics.ReconcileErrors.WithLabels(name).Inc();
                LogFailed(logger, name, key, ex);
                queue.AddRateLimited(key);
            }

            metrics.ReconcileTime.WithLabels(name).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
            metrics.ReconcileTotal.WithLabels(name, result).Inc();
            Interlocked.Increment(ref _reconciles);
            queue.Done(key);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Controller}: reconcile of {Key} failed")]
    private static partial void LogFailed(ILogger logger, string controller, string key, Exception exception);
}
