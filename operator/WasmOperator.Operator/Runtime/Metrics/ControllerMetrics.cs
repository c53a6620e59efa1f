using Prometheus;

namespace WasmOperator.Operator.Runtime.Metrics;

/// <summary>
/// Metrics named like controller-runtime's, on one registry per operator instance (tests run several
/// replicas in one process).
/// </summary>
internal sealed class ControllerMetrics
{
    public ControllerMetrics(CollectorRegistry registry)
    {
        Registry = registry;
        var factory = Prometheus.Metrics.WithCustomRegistry(registry);
        ReconcileTotal = factory.CreateCounter("controller_runtime_reconcile_total", "Total number of reconciliations per controller and result.", "controller", "result");
        ReconcileErrors = factory.CreateCounter("controller_runtime_reconcile_errors_total", "Total number of reconciliation errors per controller.", "controller");
        ReconcileTime = factory.CreateHistogram("controller_runtime_reconcile_time_seconds", "Length of time per reconciliation per controller.",
            new HistogramConfiguration { LabelNames = ["controller"], Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });
        QueueDepth = factory.CreateGauge("workqueue_depth", "Current depth of the work queue.", "name");
        QueueAdds = factory.CreateCounter("workqueue_adds_total", "Total number of adds handled by the work queue.", "name");
        QueueRetries = factory.CreateCounter("workqueue_retries_total", "Total number of retries handled by the work queue.", "name");
        LeaderStatus = factory.CreateGauge("leader_election_master_status", "1 when this instance is the leader of the named lease.", "name");
        WatchStalled = factory.CreateGauge("wasmoperator_reflector_stalled", "1 while the reflector has had no working watch for longer than the stall threshold.", "resource");
        Relists = factory.CreateCounter("wasmoperator_reflector_lists_total", "Full lists done by the reflector (start and after 410 Gone).", "resource");
        WatchRestarts = factory.CreateCounter("wasmoperator_reflector_watch_restarts_total", "Watches started by the reflector, by why the previous one ended.", "resource", "reason");
        StatusPatches = factory.CreateCounter("wasmoperator_status_patches_total", "Status patches sent to the API server.");
        CacheCollections = factory.CreateCounter("wasmoperator_module_cache_collections_total", "Module cache garbage collections, by what triggered them.", "trigger");
        CacheEvictedModules = factory.CreateCounter("wasmoperator_module_cache_evicted_modules_total", "Unpinned modules removed from the module cache, by a garbage collection or by a fetch whose module took the cache over its size cap.");
        CacheEvictedBytes = factory.CreateCounter("wasmoperator_module_cache_evicted_bytes_total", "Bytes freed by removing unpinned modules from the module cache (garbage collections and fetches over the size cap).");
        CacheBytes = factory.CreateGauge("wasmoperator_module_cache_bytes", "Bytes of the modules in the operator's cache.");
        RestoredRevisions = factory.CreateCounter("wasmoperator_restored_revisions_total", "Stable revisions restored from status because the current spec failed after a restart.");
    }

    public CollectorRegistry Registry { get; }

    public Counter ReconcileTotal { get; }

    public Counter ReconcileErrors { get; }

    public Histogram ReconcileTime { get; }

    public Gauge QueueDepth { get; }

    public Counter QueueAdds { get; }

    public Counter QueueRetries { get; }

    public Gauge LeaderStatus { get; }

    public Gauge WatchStalled { get; }

    public Counter Relists { get; }

    public Counter WatchRestarts { get; }

    public Counter StatusPatches { get; }

    public Counter CacheCollections { get; }

    public Counter CacheEvictedModules { get; }

    public Counter CacheEvictedBytes { get; }

    public Gauge CacheBytes { get; }

    public Counter RestoredRevisions { get; }
}
