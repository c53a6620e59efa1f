using k8s;
using Microsoft.Extensions.Logging;
using Prometheus;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Modules;
using WasmOperator.Operator.Configuration;
using WasmOperator.Operator.GarbageCollection;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Runtime.Cache;
using WasmOperator.Operator.Runtime.Controllers;
using WasmOperator.Operator.Runtime.Events;
using WasmOperator.Operator.Runtime.LeaderElection;
using WasmOperator.Operator.Runtime.Metrics;
using WasmOperator.Operator.Runtime.Queue;
using WasmOperator.Operator.Runtime.RateLimiting;
using WasmOperator.Operator.Runtime.Reflection;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.Validation.Cel;

namespace WasmOperator.Operator.Hosting;

/// <summary>
/// One operator replica: reflectors fill the cache and the queue on every replica (a standby is warm), the
/// Lease elector decides who runs the controller's workers, and only the leader reconciles and writes.
/// </summary>
internal sealed partial class OperatorHost : IAsyncDisposable
{
    public const string ControllerName = "wasmplugin";
    private readonly OperatorOptions _options;
    private readonly ILogger _logger;
    private readonly List<Reflector<WasmPlugin>> _reflectors = [];
    private readonly List<Reflector<SecretSummary>> _secretReflectors = [];
    private readonly ModuleFetcher _fetcher;
    private readonly ProxyWasmRuntime _runtime;
    private readonly Controller _controller;
    private readonly LeaseLeaderElector? _elector;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _tasks = [];
    private readonly Lock _workersLock = new();
    private readonly ModuleCacheCollector _collector;
    private readonly SemaphoreSlim _adoptGate = new(1, 1);
    private bool _adopted;
    private Task _workers = Task.CompletedTask;

    // While leading: deletions finalized as the watch shows them, outside the queue (see OnPluginChanged).
    private readonly List<Task> _finalizing = [];
    private CancellationToken _leading = new(canceled: true);
    private int _disposed;

    public OperatorHost(OperatorOptions options, IKubernetes client, ILoggerFactory loggers, IPluginDistributor? distributor = null, TimeProvider? time = null)
    {
        options.Validate();
        _options = options;
        _logger = loggers.CreateLogger<OperatorHost>();
        Metrics = new ControllerMetrics(Prometheus.Metrics.NewCustomRegistry());
        Cache = new ObjectCache<WasmPlugin>(p => p.Metadata?.ResourceVersion, p => p.Metadata?.Labels);
        Queue = new WorkQueue<string>(
            new MaxOfRateLimiter<string>(
                new ExponentialFailureRateLimiter<string>(options.QueueBaseDelay, options.QueueMaxDelay),
                new TokenBucketRateLimiter<string>(options.QueueQps, options.QueueBurst, time ?? TimeProvider.System)),
            time);
        Distributor = distributor ?? new InMemoryPluginDistributor();
        _fetcher = new ModuleFetcher(new ModuleFetcherOptions
        {
            ResponseHeadersTimeout = options.Registry.ResponseHeadersTimeout,
            MaxRetries = options.Registry.MaxRetries,
            RetryBaseDelay = options.Registry.RetryBaseDelay,
            CircuitBreakerCooldown = options.Registry.CircuitBreakerCooldown,
            CircuitBreakerMaxCooldown = options.Registry.CircuitBreakerMaxCooldown,
            CacheDirectory = options.CacheDirectory,
            MaxCacheBytes = options.CacheMaxBytes,
            MaxModuleBytes = Math.Min(options.MaxModuleBytes, options.CacheMaxBytes),
            MaxModuleBytesSetting = ModuleLimitSetting(options),
            InsecureHosts = options.InsecureRegistries,
            BlockedNetworks = options.BlockedCidrs,
            AllowedFileRoots = options.AllowedFileRoots,
            TrustedCertificates = options.TrustedCertificates,
            MetricsRegistry = Metrics.Registry,
        }, loggers.CreateLogger<ModuleFetcher>());
        _runtime = new ProxyWasmRuntime(new ProxyWasmRuntimeOptions(), loggers);
        var events = new EventRecorder(client, "wasm-operator", options.Identity, loggers.CreateLogger<EventRecorder>(), time);
        _collector = new ModuleCacheCollector(_fetcher.Cache, options.CacheGcInterval, Metrics, loggers.CreateLogger<ModuleCacheCollector>());
        // A tag not pushed yet is tried as often as an open registry or an Always plugin, not after the queue's 16m40s.
        var notFoundRetryAtMost = options.Registry.CircuitBreakerMaxCooldown < options.AlwaysPullInterval ? options.Registry.CircuitBreakerMaxCooldown : options.AlwaysPullInterval;
        var resolver = new ModuleResolver(client, _fetcher, notFoundRetryAtMost);
        Inspector = new ModuleInspector(_runtime);
        Reconciler = new WasmPluginReconciler(client, Cache, new SpecValidator(), resolver, Inspector, new RevisionRestorer(resolver, _fetcher.Cache),
            _fetcher.Cache, Distributor, events, Metrics, new ReconcilerOptions { AlwaysPullInterval = options.AlwaysPullInterval },
            loggers.CreateLogger<WasmPluginReconciler>(), time, _collector.Request);
        _controller = new Controller(ControllerName, Queue, Reconciler.ReconcileAsync, Metrics, loggers.CreateLogger<Controller>());

        Secrets = new ObjectCache<SecretSummary>(s => s.ResourceVersion, _ => null);
        IReadOnlyList<string?> namespaces = options.WatchNamespaces.Count == 0 ? [null] : [.. options.WatchNamespaces];
        var plugins = ListWatches.WasmPlugins(client);
        var secrets = ListWatches.Secrets(client);
        foreach (var ns in namespaces)
        {
            var reflectorOptions = new ReflectorOptions
            {
                Namespace = ns,
                WatchTimeout = options.WatchTimeout,
                InitialBackoff = options.WatchReconnectBackoff,
                StallThreshold = options.WatchStallThreshold,
            };
            _reflectors.Add(new Reflector<WasmPlugin>(plugins, Cache, OnPluginChanged, reflectorOptions, Metrics, loggers.CreateLogger<Reflector<WasmPlugin>>(), time));
            _secretReflectors.Add(new Reflector<SecretSummary>(secrets, Secrets, RequeuePluginsUsing, reflectorOptions, Metrics, loggers.CreateLogger<Reflector<SecretSummary>>(), time));
        }

        if (options.LeaderElection)
        {
            _elector = new LeaseLeaderElector(client, new LeaderElectionOptions
            {
                LeaseName = options.LeaseName,
                LeaseNamespace = options.EffectiveLeaseNamespace,
                Identity = options.Identity,
                LeaseDuration = options.LeaseDuration,
                RenewDeadline = options.RenewDeadline,
                RetryPeriod = options.RetryPeriod,
            }, Metrics, loggers.CreateLogger<LeaseLeaderElector>(), time);
            _elector.StartedLeading += StartLeadingAsync;
        }

        Metrics.Registry.AddBeforeCollectCallback(() =>
        {
            Metrics.QueueDepth.WithLabels(ControllerName).Set(Queue.Depth);
            Metrics.QueueAdds.WithLabels(ControllerName).IncTo(Queue.TotalAdds);
            Metrics.QueueRetries.WithLabels(ControllerName).IncTo(Queue.TotalRetries);
            Metrics.WatchStalled.WithLabels(WasmPlugin.Plural).Set(_reflectors.Exists(r => r.IsStalled) ? 1 : 0);
            Metrics.WatchStalled.WithLabels(secrets.Resource).Set(_secretReflectors.Exists(r => r.IsStalled) ? 1 : 0);
            Metrics.CacheBytes.Set(_fetcher.Cache.TotalBytes);
        });
    }

    public ControllerMetrics Metrics { get; }

    public ObjectCache<WasmPlugin> Cache { get; }

    /// <summary>Secrets in the watched namespaces, names and data keys only; a change requeues the plugins that pull with them.</summary>
    public ObjectCache<SecretSummary> Secrets { get; }

    public WorkQueue<string> Queue { get; }

    public IPluginDistributor Distributor { get; }

    public WasmPluginReconciler Reconciler { get; }

    /// <summary>The load check and the verdicts it keeps.</summary>
    public ModuleInspector Inspector { get; }

    public IModuleCache ModuleCache => _fetcher.Cache;

    public ModuleCacheCollector CacheCollector => _collector;

    /// <summary>Reconciles finished by this replica.</summary>
    public long Reconciles => _controller.Reconciles;

    public bool IsLeader => _elector?.IsLeader ?? !_stopping.IsCancellationRequested;

    public string Identity => _options.Identity;

    /// <summary>The resourceVersion each reflector resumes from (carried by events and bookmarks).</summary>
    public IReadOnlyList<string?> WatchResourceVersions => _reflectors.ConvertAll(r => r.ResourceVersion);

    public IReadOnlyList<string?> WatchErrors => _reflectors.ConvertAll(r => r.LastError);

    /// <summary>Every reflector has listed once.</summary>
    public bool IsSynced => _reflectors.TrueForAll(r => r.Synced.IsCompletedSuccessfully);

    /// <summary>/healthz: the process works, and no watch has been stalled past its threshold.</summary>
    public (bool Healthy, string Detail) Health()
    {
        var stalled = _reflectors.FindAll(r => r.IsStalled);
        if (stalled.Count > 0)
        {
            return (false, $"watch stalled: no working list or watch of wasmplugins for more than {GoDuration.Format(_options.WatchStallThreshold)}; last error: {stalled[0].LastError}");
        }

        var secrets = _secretReflectors.FindAll(r => r.IsStalled);
        return secrets.Count == 0 ? (true, "ok")
            : (false, $"watch stalled: no working list or watch of secrets for more than {GoDuration.Format(_options.WatchStallThreshold)} (the operator needs get, list and watch on secrets); last error: {secrets[0].LastError}");
    }

    /// <summary>
    /// /readyz: synced. A standby is ready too, as controller-runtime's managers are: a Deployment's rolling update waits
    /// for the new pod to be ready while the old one holds the lease, so a standby reported unready stalled every rollout.
    /// The detail says which role this replica has.
    /// </summary>
    public (bool Ready, string Detail) Readiness() =>
        !IsSynced ? (false, "cache not synced yet")
        : !IsLeader ? (true, $"ok (standby: {_options.Identity} is not the leader)")
        : (true, "ok");

    public Task StartAsync()
    {
        foreach (var reflector in _reflectors)
        {
            _tasks.Add(Task.Run(() => reflector.RunAsync(_stopping.Token)));
        }

        foreach (var reflector in _secretReflectors)
        {
            _tasks.Add(Task.Run(() => reflector.RunAsync(_stopping.Token)));
        }

        _tasks.Add(Task.Run(() => _collector.RunAsync(AdoptStableRevisionsAsync, _stopping.Token)));
        if (_elector is not null)
        {
            _tasks.Add(Task.Run(() => _elector.RunAsync(_stopping.Token)));
        }
        else
        {
            _ = StartLeadingAsync(_stopping.Token);
        }

        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        // Stop order: workers finish their current item, the elector releases the lease, then the rest.
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            Task[] finalizing;
            lock (_workersLock)
            {
                finalizing = [.. _finalizing];
            }

            await Task.WhenAll([.. _tasks, _workers, .. finalizing]).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        Queue.Dispose();
        _fetcher.Dispose();
        _runtime.Dispose();
        _stopping.Dispose();
        _adoptGate.Dispose();
    }

    private void OnPluginChanged(string key)
    {
        // First stop a pass still fetching for a generation the plugin no longer has, then queue the key for the next one.
        Reconciler.Supersede(key);
        Queue.Add(key);
        if (Cache.Get(key)?.Metadata?.Extra?.ContainsKey("deletionTimestamp") != true)
        {
            return;
        }

        // A deletion needs no fetch: it does not wait in the queue for a worker that may be held by a silent registry.
        lock (_workersLock)
        {
            if (!_leading.IsCancellationRequested)
            {
                var leading = _leading;
                _finalizing.RemoveAll(t => t.IsCompleted);
                _finalizing.Add(Task.Run(() => FinalizeDeletedAsync(key, leading)));
            }
        }
    }

    private async Task FinalizeDeletedAsync(string key, CancellationToken leading)
    {
        try
        {
            await Reconciler.FinalizeDeletedAsync(key, leading).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (leading.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The key is queued too: its pass retries the finalizer with backoff.
            LogFinalizeFailed(_logger, key, ex.Message);
        }
    }

    private void RequeuePluginsUsing(string secretKey)
    {
        foreach (var key in PullSecretReferences.PluginsUsing(Cache, secretKey))
        {
            Queue.Add(key);
        }
    }

    /// <summary>
    /// Once per process, after the caches synced: pins the modules of the stable revisions recorded in status,
    /// before the first collection and before any worker fetches (a fetch's commit evicts beyond the cap too).
    /// </summary>
    private async Task AdoptStableRevisionsAsync(CancellationToken cancellationToken)
    {
        foreach (var reflector in _reflectors)
        {
            await reflector.Synced.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        await _adoptGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_adopted)
            {
                var plugins = new List<WasmPlugin>();
                foreach (var key in Cache.Keys())
                {
                    if (Cache.Get(key) is { } plugin)
                    {
                        plugins.Add(plugin);
                    }
                }

                var pinned = Reconciler.AdoptStableRevisions(plugins);
                _adopted = true;
                LogAdopted(_logger, pinned);
            }
        }
        finally
        {
            _adoptGate.Release();
        }
    }

    private async Task StartLeadingAsync(CancellationToken leadership)
    {
        // Wait for the caches so the first pass sees every object, then queue them all: level-triggered.
        try
        {
            await AdoptStableRevisionsAsync(leadership).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        foreach (var key in Cache.Keys())
        {
            Queue.Add(key);
        }

        lock (_workersLock)
        {
            _leading = leadership;
            var previous = _workers;
            _workers = Task.Run(async () =>
            {
                await previous.ConfigureAwait(false);
                // Before any worker: a worker may wait minutes on a registry, and what the cache holds needs none.
                try
                {
                    LogRestoredAtStart(_logger, await Reconciler.RestoreVerifiedAtStartAsync(leadership).ConfigureAwait(false));
                }
                catch (OperationCanceledException) when (leadership.IsCancellationRequested)
                {
                    return;
                }

                await _controller.RunAsync(_options.Workers, leadership).ConfigureAwait(false);
            });
        }
    }

    /// <summary>The setting a too-large module's error tells the user to raise: the one that set the limit.</summary>
    private static string ModuleLimitSetting(OperatorOptions options) => options.MaxModuleBytes <= options.CacheMaxBytes
        ? "the operator's " + Named("max-module-bytes")
        : $"the operator's {Named("cache-max-bytes")}, which caps the module size below max-module-bytes ({options.MaxModuleBytes}) as a module must fit the cache";

    private static string Named(string name) =>
        OperatorSettings.Find(name) is { } setting ? $"{setting.Flag} (env {setting.Variable})" : "--" + name;

    [LoggerMessage(Level = LogLevel.Information, Message = "{Key}: finalizing the deleted plugin failed, its queued pass retries: {Problem}")]
    private static partial void LogFinalizeFailed(ILogger logger, string key, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Handed out {Count} stable revisions of unchanged specs from the module cache before the first reconcile")]
    private static partial void LogRestoredAtStart(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pinned the modules of {Count} stable revisions recorded in status")]
    private static partial void LogAdopted(ILogger logger, int count);
}
