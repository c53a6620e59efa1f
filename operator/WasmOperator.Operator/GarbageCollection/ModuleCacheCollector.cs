using Microsoft.Extensions.Logging;
using WasmOperator.Modules;
using WasmOperator.Operator.Runtime.Metrics;

namespace WasmOperator.Operator.GarbageCollection;

/// <summary>
/// Runs the module cache's garbage collection: every interval, and soon after a revision released a module
/// (a plugin deleted or replaced). The cache removes unpinned modules only, least recently used first, down to
/// its size cap; a module a desired revision uses is pinned and never collected. The first collection waits
/// for <c>ready</c>: the pins of the revisions recorded in status must be taken before anything is removed.
/// </summary>
internal sealed partial class ModuleCacheCollector
{
    private readonly SemaphoreSlim _requested = new(0, 1);
    private readonly IModuleCache _cache;
    private readonly TimeSpan _interval;
    private readonly ControllerMetrics _metrics;
    private readonly ILogger _logger;

    public ModuleCacheCollector(IModuleCache cache, TimeSpan interval, ControllerMetrics metrics, ILogger logger)
    {
        _cache = cache;
        _interval = interval;
        _metrics = metrics;
        _logger = logger;
        // Every eviction is counted: a fetch's commit over the size cap evicts too, not only a collection.
        cache.Evicted += (modules, bytes) =>
        {
            metrics.CacheEvictedModules.Inc(modules);
            metrics.CacheEvictedBytes.Inc(bytes);
        };
    }

    /// <summary>Asks for a collection soon; requests made while one is pending are coalesced.</summary>
    public void Request()
    {
        try
        {
            _requested.Release();
        }
        catch (SemaphoreFullException)
        {
        }
    }

    public async Task RunAsync(Func<CancellationToken, Task> ready, CancellationToken cancellationToken)
    {
        try
        {
            await ready(cancellationToken).ConfigureAwait(false);
            while (!cancellationToken.IsCancellationRequested)
            {
                var requested = await _requested.WaitAsync(_interval, cancellationToken).ConfigureAwait(false);
                Collect(requested ? "released" : "interval");
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One collection; returns the removed digests.</summary>
    public IReadOnlyList<string> Collect(string trigger)
    {
        var before = _cache.TotalBytes;
        var removed = _cache.CollectGarbage();
        // A fetch committing meanwhile adds bytes: the difference may undercount, never count what stayed.
        var freed = Math.Max(0, before - _cache.TotalBytes);
        _metrics.CacheCollections.WithLabels(trigger).Inc();
        if (removed.Count > 0)
        {
            LogCollected(_logger, trigger, removed.Count, freed, _cache.TotalBytes);
        }

        return removed;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Module cache collection ({Trigger}): removed {Count} unpinned modules, {Bytes} bytes; {Remaining} bytes remain")]
    private static partial void LogCollected(ILogger logger, string trigger, int count, long bytes, long remaining);
}
