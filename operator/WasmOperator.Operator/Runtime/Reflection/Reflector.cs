using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using Microsoft.Extensions.Logging;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Runtime.Cache;
using WasmOperator.Operator.Runtime.Metrics;

namespace WasmOperator.Operator.Runtime.Reflection;

/// <summary>
/// Keeps <see cref="ObjectCache{T}"/> in step with the API server: list, then watch with bookmarks from the
/// list's resourceVersion, carrying the newest resourceVersion from events and bookmarks. A 410 Gone (which
/// KubernetesClient hands to onError instead of throwing) leads to a fresh list; a list diff catches deletions
/// missed while disconnected. Any other end of the stream reconnects with backoff. It never stops silently:
/// <see cref="IsStalled"/> and a metric turn on when nothing has worked for the stall threshold.
/// </summary>
internal sealed partial class Reflector(
    IKubernetes client,
    ObjectCache<WasmPlugin> cache,
    Action<string> onChange,
    ReflectorOptions options,
    ControllerMetrics metrics,
    ILogger logger,
    TimeProvider? time = null)
{
    private const string Resource = WasmPlugin.Plural;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _healthySince;
    private long _lastHealthy;
    private volatile bool _watching;
    private long _watchStarted;

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
            if (_watching)
            {
                return false;
            }

            var last = Interlocked.Read(ref _lastHealthy);
            var since = last == 0 ? Interlocked.Read(ref _healthySince) : last;
            return since != 0 && _time.GetElapsedTime(since) > options.StallThreshold;
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _healthySince, _time.GetTimestamp());
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
                LogWatchEndedUncleanly(logger, Resource, ex.Message);
            }
            catch (Exception ex)
            {
                // Never stop on an error: back off and list or watch again; the stall shows in health and metrics.
                reason = "error";
                LastError = $"{ex.GetType().Name}: {ex.Message}";
                LogWatchFailed(logger, Resource, ex.Message, backoff);
            }
            finally
            {
                _watching = false;
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
        var items = new Dictionary<string, WasmPlugin>(StringComparer.Ordinal);
        string? continueToken = null;
        string? listVersion;
        do
        {
            using var response = options.Namespace is null
                ? await client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(
                    WasmPlugin.Group, WasmPlugin.Version, Resource, limit: 500, continueParameter: continueToken, cancellationToken: cancellationToken).ConfigureAwait(false)
                : await client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(
                    WasmPlugin.Group, WasmPlugin.Version, options.Namespace, Resource, limit: 500, continueParameter: continueToken, cancellationToken: cancellationToken).ConfigureAwait(false);
            var list = (JsonElement)response.Body;
            foreach (var element in list.GetProperty("items").EnumerateArray())
            {
                var plugin = element.Deserialize<WasmPlugin>(Api.Serialization.WasmPluginSerializer.Options);
                if (plugin?.Metadata?.Name is { } name)
                {
                    items[ObjectCache<WasmPlugin>.KeyOf(plugin.Metadata.Namespace, name)] = plugin;
                }
            }

            var meta = list.GetProperty("metadata");
            listVersion = meta.TryGetProperty("resourceVersion", out var rv) ? rv.GetString() : null;
            continueToken = meta.TryGetProperty("continue", out var next) && next.ValueKind == JsonValueKind.String && next.GetString() is { Length: > 0 } c ? c : null;
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
        var events = options.Namespace is null
            ? client.CustomObjects.WatchListClusterCustomObjectAsync(
                WasmPlugin.Group, WasmPlugin.Version, Resource, allowWatchBookmarks: true, resourceVersion: ResourceVersion,
                timeoutSeconds: timeoutSeconds, onError: ex => watchError = ex, cancellationToken: cancellationToken)
            : client.CustomObjects.WatchListNamespacedCustomObjectAsync(
                WasmPlugin.Group, WasmPlugin.Version, options.Namespace, Resource, allowWatchBookmarks: true, resourceVersion: ResourceVersion,
                timeoutSeconds: timeoutSeconds, onError: ex => watchError = ex, cancellationToken: cancellationToken);
        var started = _watchStarted = _time.GetTimestamp();
        await foreach (var (type, item) in events.ConfigureAwait(false))
        {
            if (item is not JsonElement element)
            {
                continue;
            }

            _watching = true;
            MarkHealthy();
            var plugin = element.Deserialize<WasmPlugin>(Api.Serialization.WasmPluginSerializer.Options);
            var meta = plugin?.Metadata;
            if (meta?.ResourceVersion is { } rv)
            {
                ResourceVersion = rv;
            }

            if (type == WatchEventType.Bookmark || meta?.Name is not { } name || plugin is null)
            {
                continue;
            }

            var key = ObjectCache<WasmPlugin>.KeyOf(meta.Namespace, name);
            var changed = type == WatchEventType.Deleted ? cache.Remove(key) : cache.Upsert(key, plugin);
            if (changed)
            {
                onChange(key);
            }
        }

        _watching = false;
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

    private void MarkHealthy()
    {
        Interlocked.Exchange(ref _lastHealthy, _time.GetTimestamp());
        metrics.WatchStalled.WithLabels(Resource).Set(0);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch of {Resource} failed: {Error}; reconnecting in {Backoff}")]
    private static partial void LogWatchFailed(ILogger logger, string resource, string error, TimeSpan backoff);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Watch of {Resource} reached its timeout and ended with: {Error}; resuming")]
    private static partial void LogWatchEndedUncleanly(ILogger logger, string resource, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Listed {Resource}: {Count} objects, {Changed} changed, resourceVersion {ResourceVersion}")]
    private static partial void LogListed(ILogger logger, string resource, int count, int changed, string? resourceVersion);

    [LoggerMessage(Level = LogLevel.Information, Message = "Watch of {Resource} from resourceVersion {ResourceVersion} expired (410 Gone); relisting")]
    private static partial void LogGone(ILogger logger, string resource, string? resourceVersion);
}
