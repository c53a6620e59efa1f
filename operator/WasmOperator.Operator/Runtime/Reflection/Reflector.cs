using System.Net;
using k8s;
using Microsoft.Extensions.Logging;
using WasmOperator.Operator.Runtime.Cache;
using WasmOperator.Operator.Runtime.Metrics;

namespace WasmOperator.Operator.Runtime.Reflection;

/// <summary>
/// Keeps <see cref="ObjectCache{T}"/> in step with the API server: list, then watch with bookmarks from the
/// list's resourceVersion, carrying the newest resourceVersion from events and bookmarks. A 410 Gone (which
/// KubernetesClient hands to onError instead of throwing) leads to a fresh list; a list diff catches deletions
/// missed while disconnected. Any other end of the stream reconnects with backoff. It never stops silently:
/// <see cref="IsStalled"/> and a metric turn on when lists and watches have kept failing for the stall threshold.
/// An open watch without events is healthy: a namespace without Secrets, or a quiet cluster, sends nothing for minutes.
/// </summary>
internal sealed partial class Reflector<T>(
    ListWatch<T> source,
    ObjectCache<T> cache,
    Action<string> onChange,
    ReflectorOptions options,
    ControllerMetrics metrics,
    ILogger logger,
    TimeProvider? time = null)
    where T : class
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // When the current run of failures began; 0 while the last list or watch worked.
    private long _failingSince;
    private long _watchStarted;

    private string Resource => source.Resource;

    /// <summary>The resourceVersion the next watch resumes from (null: list first).</summary>
    public string? ResourceVersion { get; private set; }

    /// <summary>Why the last list or watch failed, for /healthz and logs.</summary>
    public string? LastError { get; private set; }

    /// <summary>Completes after the first successful list.</summary>
    public Task Synced => _synced.Task;

    public bool IsStalled
    {
        get
        {
            var since = Interlocked.Read(ref _failingSince);
            return since != 0 && _time.GetElapsedTime(since) > options.StallThreshold;
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = options.InitialBackoff;
        while (!cancellationToken.IsCancellationRequested)
        {
            string reason;
            try
            {
                if (ResourceVersion is null)
                {
                    await ListAsync(cancellationToken).ConfigureAwait(false);
                }

                reason = await WatchAsync(cancellationToken).ConfigureAwait(false);
                if (reason is "timeout" or "closed")
                {
                    backoff = options.InitialBackoff;
                    metrics.WatchRestarts.WithLabels(Resource, reason).Inc();
                    continue;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (_watchStarted != 0 && _time.GetElapsedTime(_watchStarted) >= options.WatchTimeout && !cancellationToken.IsCancellationRequested)
            {
                // The server ended the watch at timeoutSeconds, but the stream was not closed cleanly: a normal end.
                reason = "timeout";
                backoff = options.InitialBackoff;
                MarkHealthy();
                LogWatchEndedUncleanly(logger, Resource, ex.Message);
            }
            catch (Exception ex)
            {
                // Never stop on an error: back off and list or watch again; the stall shows in health and metrics.
                reason = "error";
                LastError = $"{ex.GetType().Name}: {ex.Message}";
                MarkFailing();
                LogWatchFailed(logger, Resource, ex.Message, FormattableString.Invariant($"{backoff.TotalSeconds:0.0##} s"));
            }
            finally
            {
                _watchStarted = 0;
                metrics.WatchStalled.WithLabels(Resource).Set(IsStalled ? 1 : 0);
            }

            metrics.WatchRestarts.WithLabels(Resource, reason).Inc();
            if (reason is "gone" or "timeout")
            {
                // The resourceVersion is compacted away; relist right away, as client-go does.
                continue;
            }

            try
            {
                await Task.Delay(backoff, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            metrics.WatchStalled.WithLabels(Resource).Set(IsStalled ? 1 : 0);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, options.MaxBackoff.Ticks));
        }
    }

    private async Task ListAsync(CancellationToken cancellationToken)
    {
        var items = new Dictionary<string, T>(StringComparer.Ordinal);
        string? continueToken = null;
        string? listVersion;
        do
        {
            var page = await source.List(options.Namespace, continueToken, cancellationToken).ConfigureAwait(false);
            foreach (var item in page.Items)
            {
                var meta = source.Meta(item);
                if (meta.Name is { } name)
                {
                    items[ObjectCache<T>.KeyOf(meta.Namespace, name)] = item;
                }
            }

            listVersion = page.ResourceVersion;
            continueToken = page.Continue;
        }
        while (continueToken is not null);

        var changed = cache.Replace(items, key => options.Namespace is null || key.StartsWith(options.Namespace + "/", StringComparison.Ordinal));
        ResourceVersion = listVersion;
        metrics.Relists.WithLabels(Resource).Inc();
        MarkHealthy();
        _synced.TrySetResult();
        LogListed(logger, Resource, items.Count, changed.Count, listVersion);
        foreach (var key in changed)
        {
            onChange(key);
        }
    }

    private async Task<string> WatchAsync(CancellationToken cancellationToken)
    {
        Exception? watchError = null;
        var timeoutSeconds = (int)Math.Max(1, options.WatchTimeout.TotalSeconds);
        var events = source.Watch(options.Namespace, ResourceVersion, timeoutSeconds, ex => watchError = ex, cancellationToken);
        var started = _watchStarted = _time.GetTimestamp();
        await foreach (var (type, item) in events.ConfigureAwait(false))
        {
            MarkHealthy();
            var meta = source.Meta(item);
            if (meta.ResourceVersion is { } rv)
            {
                ResourceVersion = rv;
            }

            if (type == WatchEventType.Bookmark || meta.Name is not { } name)
            {
                continue;
            }

            var key = ObjectCache<T>.KeyOf(meta.Namespace, name);
            var changed = type == WatchEventType.Deleted ? cache.Remove(key) : cache.Upsert(key, item);
            if (changed)
            {
                onChange(key);
            }
        }

        if (watchError is KubernetesException { Status.Code: (int)HttpStatusCode.Gone })
        {
            LogGone(logger, Resource, ResourceVersion);
            ResourceVersion = null;
            return "gone";
        }

        if (watchError is not null)
        {
            throw new IOException($"the {Resource} watch failed: {watchError.Message}", watchError);
        }

        MarkHealthy();
        return _time.GetElapsedTime(started) >= options.WatchTimeout ? "timeout" : "closed";
    }

    private void MarkFailing() => Interlocked.CompareExchange(ref _failingSince, _time.GetTimestamp(), 0);

    private void MarkHealthy()
    {
        Interlocked.Exchange(ref _failingSince, 0);
        metrics.WatchStalled.WithLabels(Resource).Set(0);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch of {Resource} failed: {Error}; reconnecting in {Backoff}")]
    private static partial void LogWatchFailed(ILogger logger, string resource, string error, string backoff);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Watch of {Resource} reached its timeout and ended with: {Error}; resuming")]
    private static partial void LogWatchEndedUncleanly(ILogger logger, string resource, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Listed {Resource}: {Count} objects, {Changed} changed, resourceVersion {ResourceVersion}")]
    private static partial void LogListed(ILogger logger, string resource, int count, int changed, string? resourceVersion);

    [LoggerMessage(Level = LogLevel.Information, Message = "Watch of {Resource} from resourceVersion {ResourceVersion} expired (410 Gone); relisting")]
    private static partial void LogGone(ILogger logger, string resource, string? resourceVersion);
}
