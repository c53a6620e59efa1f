using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using WasmOperator.Api.Serialization;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Modules;
using WasmOperator.Operator.Runtime.Cache;
using WasmOperator.Operator.Runtime.Events;
using WasmOperator.Operator.Runtime.Metrics;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// The WasmPlugin reconciler, level-triggered on a key with Flux's skeleton: deletion → finalizer → validate →
/// resolve and fetch → verify and check → revision → desired state → status. Each step either passes or ends the
/// pass with an outcome; the status is summarized from that outcome and patched to /status only when it changed.
/// A new revision that fails never replaces the good one already handed to the distributor.
/// </summary>
internal sealed partial class WasmPluginReconciler(
    IKubernetes client,
    ObjectCache<WasmPlugin> cache,
    SpecValidator validator,
    ModuleResolver resolver,
    ModuleInspector inspector,
    RevisionRestorer restorer,
    IModuleCache moduleCache,
    IPluginDistributor distributor,
    EventRecorder events,
    ControllerMetrics metrics,
    ReconcilerOptions options,
    ILogger logger,
    TimeProvider? time = null,
    Action? modulesReleased = null)
{
    public const string Finalizer = "extensions.wasmoperator.io/finalizer";

    /// <summary>Reason of the Warning event for a Ready module that imports what the host does not provide.</summary>
    public const string MissingImportsEvent = "MissingImports";
    // A new generation whose evaluation takes longer than this (a fetch from a registry that does not answer may take
    // minutes) gets an in-progress status meanwhile; until then status would still read the last generation's Ready=True.
    private static readonly TimeSpan ProgressAfter = TimeSpan.FromSeconds(2);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, RevisionRef> _applied = new(StringComparer.Ordinal);

    // Keys whose stable revision was handed out from the cache before their first fetch after a restart (see
    // RestoreVerifiedAsync): counted as restored only if that fetch then fails, as the restore it stood in for.
    private readonly ConcurrentDictionary<string, (string Revision, long Generation)> _restoredEarly = new(StringComparer.Ordinal);

    // Pins taken at start for the stable revisions recorded in status, held until each key's first reconcile.
    private readonly ConcurrentDictionary<string, string> _adopted = new(StringComparer.Ordinal);

    // A worker pass and a deletion finalized outside the queue never work on the same key at once.
    private readonly KeyGate _gate = new();

    // Our own last write per key, until the cache has caught up with it (see Current).
    private readonly ConcurrentDictionary<string, OwnWrite> _written = new(StringComparer.Ordinal);

    // The pass working on each key and the generation it evaluates: a newer spec or a delete cancels its fetch (see Supersede).
    private readonly ConcurrentDictionary<string, Pass> _passes = new(StringComparer.Ordinal);

    /// <summary>
    /// Pins the module of every stable revision recorded in the plugins' status, so that no garbage collection
    /// removes a module a restored revision needs before its plugin is reconciled. Call once, after the cache
    /// synced and before any worker or collection runs. Returns how many modules were pinned.
    /// </summary>
    public int AdoptStableRevisions(IEnumerable<WasmPlugin> plugins)
    {
        var adopted = 0;
        foreach (var plugin in plugins)
        {
            if (plugin.Metadata?.Name is not { } name || plugin.Status?.Revisions?.Stable?.ModuleDigest is not { } digest)
            {
                continue;
            }

            var key = ObjectCache<WasmPlugin>.KeyOf(plugin.Metadata.Namespace, name);
            if (_applied.ContainsKey(key) || !_adopted.TryAdd(key, digest))
            {
                continue;
            }

            try
            {
                moduleCache.Pin(digest);
                adopted++;
            }
            catch (ArgumentException)
            {
                // Not a digest (edited status): nothing to keep; the reconcile reports what it can restore.
                _adopted.TryRemove(key, out _);
            }
        }

        return adopted;
    }

    /// <summary>
    /// When leadership starts, before any worker runs: every plugin whose spec is the one status records as stable and
    /// whose module is cached gets that revision handed out (see RestoreVerifiedAsync), from the cache only: nothing is
    /// asked of a registry. In a worker pass it waited for a free worker, and a registry that does not answer can hold
    /// every worker for minutes. Returns how many revisions were handed out.
    /// </summary>
    public async Task<int> RestoreVerifiedAtStartAsync(CancellationToken cancellationToken)
    {
        var restored = 0;
        foreach (var key in cache.Keys())
        {
            using var held = await _gate.EnterAsync(key, cancellationToken).ConfigureAwait(false);
            if (cache.Get(key) is not { Metadata.Name: not null } plugin || plugin.Metadata.Extra?.ContainsKey("deletionTimestamp") == true)
            {
                continue;
            }

            try
            {
                using var lease = moduleCache.OpenLease();
                if (await RestoreVerifiedAsync(key, Current(key, plugin), lease, cancellationToken).ConfigureAwait(false))
                {
                    restored++;
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // One plugin's record (an edited status, an unreadable cache entry) must not keep the workers from starting:
                // that key's pass meets the same problem and reports it in status.
                LogNotRestoredAtStart(logger, key, ex.Message);
            }
        }

        return restored;
    }

    /// <summary>
    /// Called for a plugin the watch shows deleted or being deleted, outside the queue: its finalizer pass needs no fetch,
    /// and in the queue it waited until a worker came free, minutes when every worker waits on a registry that does not
    /// answer. Waits only for a pass of the same key (which the delete superseded). The queue's pass of the key still
    /// runs later and finds nothing left to do; a failure here is left to it.
    /// </summary>
    public async Task FinalizeDeletedAsync(string key, CancellationToken cancellationToken)
    {
        using var held = await _gate.EnterAsync(key, cancellationToken).ConfigureAwait(false);
        var plugin = cache.Get(key);
        if (plugin?.Metadata?.Name is null)
        {
            Release(key);
            return;
        }

        plugin = Current(key, plugin);
        if (plugin.Metadata!.Extra?.ContainsKey("deletionTimestamp") != true)
        {
            return;
        }

        try
        {
            await FinalizeAsync(key, plugin, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex)
        {
            LogFinalizeLeftToQueue(logger, key, (int)ex.Response.StatusCode);
        }
    }

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        using var held = await _gate.EnterAsync(key, cancellationToken).ConfigureAwait(false);
        var plugin = cache.Get(key);
        if (plugin?.Metadata?.Name is null)
        {
            // Gone without our finalizer (or someone removed it): make sure nothing of it is left.
            Release(key);
            return ReconcileResult.Done;
        }

        plugin = Current(key, plugin);
        var metadata = plugin.Metadata!;
        try
        {
            if (metadata.Extra?.ContainsKey("deletionTimestamp") == true)
            {
                return await FinalizeAsync(key, plugin, cancellationToken).ConfigureAwait(false);
            }

            if (!Finalizers(plugin).Contains(Finalizer))
            {
                var before = metadata.ResourceVersion;
                plugin = await AddFinalizerAsync(plugin, cancellationToken).ConfigureAwait(false);
                Remember(key, before, plugin);
            }

            PluginOutcome outcome;
            var retryRestore = false;
            string? progressVersion = null;
            // Holds what this pass is handed until Apply pinned it: a concurrent fetch over the cache's cap cannot evict it meanwhile.
            using (var lease = moduleCache.OpenLease())
            using (var pass = StartPass(key, metadata.Generation ?? 0, cancellationToken))
            {
                try
                {
                    await RestoreVerifiedAsync(key, plugin, lease, pass.Token).ConfigureAwait(false);
                    var evaluation = EvaluateAsync(key, plugin, lease, pass.Token);
                    if (!evaluation.IsCompleted && plugin.Status?.ObservedGeneration != (metadata.Generation ?? 0))
                    {
                        var slow = Task.Delay(ProgressAfter, _time, pass.Token);
                        if (await Task.WhenAny(evaluation, slow).ConfigureAwait(false) == slow && slow.IsCompletedSuccessfully)
                        {
                            progressVersion = await WriteProgressAsync(key, plugin, cancellationToken).ConfigureAwait(false);
                        }
                    }

                    outcome = await evaluation.ConfigureAwait(false);
                    if (outcome.Kind != OutcomeKind.Ready)
                    {
                        (outcome, retryRestore) = await KeepStableAsync(key, plugin, outcome, lease, pass.Token).ConfigureAwait(false);
                    }
                    else
                    {
                        _restoredEarly.TryRemove(key, out _);
                    }
                }
                catch (OperationCanceledException) when (pass.Superseded && !cancellationToken.IsCancellationRequested)
                {
                    // The change that cancelled it queued the key again: the next pass evaluates the spec as it is now.
                    LogSuperseded(logger, key, metadata.Generation ?? 0);
                    return ReconcileResult.Done;
                }
            }

            // Stalled by what the URL served (digest, format, ABI): with Always the content may be republished. Or by its
            // server's certificate, which is renewed or its CA trusted without any change the operator watches. Either
            // way the url is resolved again now and then.
            if (outcome is { Kind: OutcomeKind.Stalled } &&
                (outcome.Reason == ConditionReasons.CertificateRejected ||
                 (outcome.ModuleRejected && plugin.Spec is { } spec && PullPolicies.Effective(spec) == ModulePullPolicy.Always)))
            {
                outcome = outcome with { ResolvedAgainEvery = options.AlwaysPullInterval };
            }

            ReleaseAdopted(key);
            if (!retryRestore && outcome is { Kind: OutcomeKind.Transient, AwaitsProbeOf: { } probed, RetryAt: { } probeDue } && ReportsUnavailable(plugin, probed))
            {
                // Refused only because another plugin's fetch probes the registry this status already reports: writing the
                // probe's deadline now and its outcome on the next pass would be two patches and two events per cycle.
                return ReconcileResult.After(Until(probeDue));
            }

            await WriteStatusAsync(key, plugin, outcome, progressVersion, cancellationToken).ConfigureAwait(false);
            return outcome.Kind switch
            {
                _ when retryRestore => ReconcileResult.Retry,
                OutcomeKind.Transient when outcome.RetryAt is { } at => ReconcileResult.After(Until(at)),
                OutcomeKind.Transient when outcome.RetriedAtMostEvery is { } every => ReconcileResult.Retry with { MaxBackoff = every },
                OutcomeKind.Transient => ReconcileResult.Retry,
                OutcomeKind.Ready when PullPolicies.Effective(plugin.Spec!) == ModulePullPolicy.Always => ReconcileResult.After(options.AlwaysPullInterval),
                OutcomeKind.Stalled when outcome.ResolvedAgainEvery is { } interval => ReconcileResult.After(interval),
                _ => ReconcileResult.Done,
            };
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // Our copy is stale: the watch brings the newer one; retry with backoff, never Update over it.
            LogConflict(logger, key, ex.Response.Content);
            return ReconcileResult.Retry;
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return ReconcileResult.Done;
        }
    }

    /// <summary>
    /// Called for every change the watch delivers, after the cache has it: a pass still resolving, fetching or checking
    /// a generation the object no longer has (a spec change, a delete) stops waiting, so that the change is acted on
    /// at once rather than after the old fetch's retries and timeouts (minutes against a registry that does not answer).
    /// The fetch itself goes on for any other plugin waiting on the same module.
    /// </summary>
    public void Supersede(string key)
    {
        if (!_passes.TryGetValue(key, out var pass))
        {
            return;
        }

        var metadata = cache.Get(key)?.Metadata;
        if (metadata is null || metadata.Extra?.ContainsKey("deletionTimestamp") == true || (metadata.Generation ?? 0) != pass.Generation)
        {
            pass.Supersede();
        }
    }

    /// <summary>True when the status of the current generation reports <paramref name="host"/> (a registry, its storage) as unavailable.</summary>
    private static bool ReportsUnavailable(WasmPlugin plugin, string host) =>
        plugin.Status is { } status && status.ObservedGeneration == (plugin.Metadata?.Generation ?? 0)
        && status.Conditions?.Find(c => c.Type == ConditionTypes.Ready) is { Reason: ConditionReasons.RegistryUnavailable, Message: { } message }
        && message.Contains($" {host} ", StringComparison.OrdinalIgnoreCase);

    /// <summary>The delay to <paramref name="at"/>, at least a second: a time just passed must not requeue in a hot loop.</summary>
    private TimeSpan Until(DateTimeOffset at)
    {
        var delay = at - _time.GetUtcNow();
        return delay > TimeSpan.FromSeconds(1) ? delay : TimeSpan.FromSeconds(1);
    }

    private Pass StartPass(string key, long generation, CancellationToken cancellationToken)
    {
        var pass = new Pass(this, key, generation, cancellationToken);
        _passes[key] = pass;
        // A change that arrived between reading the object and registering the pass would otherwise go unnoticed.
        Supersede(key);
        return pass;
    }

    private async Task<PluginOutcome> EvaluateAsync(string key, WasmPlugin plugin, ModuleLease lease, CancellationToken cancellationToken)
    {
        if (validator.Validate(plugin) is { } invalid)
        {
            return invalid;
        }

        var spec = plugin.Spec!;
        var kept = RevisionRestorer.KeptDigestSpec(plugin);
        var (fetched, fetchFailure) = await resolver.FetchAsync(plugin, kept ?? spec, lease, cancellationToken).ConfigureAwait(false);
        if (fetched is not null && kept is not null && fetched.ModuleDigest != plugin.Status!.Revisions!.Stable!.ModuleDigest)
        {
            // The kept manifest serves another module than status recorded: the record is not to be believed; the tag is.
            kept = null;
            (fetched, fetchFailure) = await resolver.FetchAsync(plugin, spec, lease, cancellationToken).ConfigureAwait(false);
        }

        if (fetched is null)
        {
            return kept is null ? fetchFailure! : fetchFailure! with
            {
                Message = $"{fetchFailure.Message}; imagePullPolicy IfNotPresent keeps {kept.Url}, the digest generation {plugin.Metadata?.Generation ?? 0} resolved spec.url to"
                    // Only where the kept digest is what failed does resolving the tag again help.
                    + (fetchFailure.Reason == ConditionReasons.FetchFailed ? "; change the spec (or use imagePullPolicy Always) to resolve the tag again" : ""),
            };
        }

        var (report, checkFailure) = await inspector.InspectAsync(key, fetched, spec, cancellationToken).ConfigureAwait(false);
        if (checkFailure is not null)
        {
            return checkFailure;
        }

        var abi = ModuleInspector.Describe(report!.AbiVersion);
        var revision = RevisionHasher.Compute(fetched.ModuleDigest, spec);
        var desired = new DesiredPlugin
        {
            Key = key,
            Revision = revision,
            Generation = plugin.Metadata?.Generation ?? 0,
            ModuleDigest = fetched.ModuleDigest,
            ModulePath = fetched.Path,
            AbiVersion = abi,
            Spec = spec,
        };
        Apply(desired);
        return new PluginOutcome
        {
            Kind = OutcomeKind.Ready,
            Reason = ConditionReasons.Succeeded,
            Message = $"revision {revision} (module {fetched.ModuleDigest}) is the desired state",
            Desired = desired,
            ModuleNote = ModuleInspector.HostGaps(report),
            Module = new ModuleStatus
            {
                Url = spec.Url,
                ResolvedRef = fetched.ResolvedRef,
                ManifestDigest = fetched.ManifestDigest,
                ModuleDigest = fetched.ModuleDigest,
                Size = fetched.Size,
                AbiVersion = abi,
            },
        };
    }

    /// <summary>
    /// The current spec failed: the stable revision stays the desired state. After a restart it is only in status,
    /// so it is restored from there first. The message says which revision stays, or why none could be restored.
    /// </summary>
    private async Task<(PluginOutcome Outcome, bool RetryRestore)> KeepStableAsync(string key, WasmPlugin plugin, PluginOutcome outcome, ModuleLease lease, CancellationToken cancellationToken)
    {
        if (_restoredEarly.TryRemove(key, out var early))
        {
            metrics.RestoredRevisions.Inc();
            LogRestored(logger, key, early.Revision, early.Generation);
        }

        if (!_applied.ContainsKey(key))
        {
            var (restored, problem, transient) = await restorer.RestoreAsync(key, plugin, fetchMissing: true, lease, cancellationToken).ConfigureAwait(false);
            if (restored is null)
            {
                return (problem is null ? outcome : outcome with { Message = $"{outcome.Message}; {problem}" }, transient);
            }

            Apply(restored);
            metrics.RestoredRevisions.Inc();
            LogRestored(logger, key, restored.Revision, restored.Generation);
        }

        return _applied.TryGetValue(key, out var applied)
            ? (outcome with { Message = $"{outcome.Message}; revision {applied.Revision} stays in effect" }, false)
            : (outcome, false);
    }

    /// <summary>
    /// First pass after a restart on a spec whose revision status records as stable (its generation is the object's):
    /// that revision, verified by the operator before, is handed out from the cache at once, before the spec is
    /// fetched again. A fetch that goes to the registry (imagePullPolicy Always, an expired pull verification) can take
    /// minutes against one that does not answer, and status already says this revision is the one in effect. Nothing
    /// is restored early for a changed spec, nor when the module is not cached: the pass then goes as before.
    /// </summary>
    private async Task<bool> RestoreVerifiedAsync(string key, WasmPlugin plugin, ModuleLease lease, CancellationToken cancellationToken)
    {
        if (_applied.ContainsKey(key) || plugin.Status?.Revisions?.Stable?.Generation is not { } generation || generation != (plugin.Metadata?.Generation ?? 0))
        {
            return false;
        }

        var (restored, _, _) = await restorer.RestoreAsync(key, plugin, fetchMissing: false, lease, cancellationToken).ConfigureAwait(false);
        if (restored is null)
        {
            return false;
        }

        Apply(restored);
        _restoredEarly[key] = (restored.Revision, restored.Generation);
        LogRestoredEarly(logger, key, restored.Revision, restored.Generation);
        return true;
    }

    private void ReleaseAdopted(string key)
    {
        if (_adopted.TryRemove(key, out var digest))
        {
            moduleCache.Unpin(digest);
            modulesReleased?.Invoke();
        }
    }

    private void Apply(DesiredPlugin desired)
    {
        var current = _applied.GetValueOrDefault(desired.Key);
        // Same revision from a newer generation (e.g. only the selector changed): proxies must learn where it runs.
        if (current?.Revision == desired.Revision && current.Generation == desired.Generation)
        {
            return;
        }

        // Pin before handing out, unpin the replaced module after: a module in use is never collected.
        moduleCache.Pin(desired.ModuleDigest);
        distributor.Apply(desired);
        _applied[desired.Key] = new RevisionRef { Revision = desired.Revision, ModuleDigest = desired.ModuleDigest, Generation = desired.Generation };
        if (current?.ModuleDigest is { } old)
        {
            moduleCache.Unpin(old);
            modulesReleased?.Invoke();
        }
    }

    /// <summary>
    /// The object to reconcile: the cached one, unless the cache has not yet seen our own last write over it. The
    /// watch event of a write we made (the finalizer, say) can requeue the key before the event of our next write
    /// (the status) arrives; reconciling the older copy would patch the status again and record its event twice.
    /// The versions our writes replaced mark the copies that are older than what we know the server has.
    /// </summary>
    private WasmPlugin Current(string key, WasmPlugin cached)
    {
        if (!_written.TryGetValue(key, out var own))
        {
            return cached;
        }

        if (cached.Metadata?.ResourceVersion is { } version && own.Replaced.Contains(version))
        {
            return own.Object;
        }

        // The cache has our write, or a change made after it: from now on it is current.
        _written.TryRemove(new KeyValuePair<string, OwnWrite>(key, own));
        return cached;
    }

    private void Remember(string key, string? replaced, WasmPlugin written)
    {
        if (replaced is null || written.Metadata?.ResourceVersion is not { } version || version == replaced)
        {
            // Nothing to remember: no version to tell copies apart, or the write left the object as it was.
            return;
        }

        var versions = _written.TryGetValue(key, out var previous) ? new HashSet<string>(previous.Replaced, StringComparer.Ordinal) : new HashSet<string>(StringComparer.Ordinal);
        versions.Add(replaced);
        _written[key] = new OwnWrite(versions, written);
    }

    private void Release(string key)
    {
        _written.TryRemove(key, out _);
        _restoredEarly.TryRemove(key, out _);
        distributor.Remove(key);
        inspector.Forget(key);
        if (_applied.TryRemove(key, out var applied) && applied.ModuleDigest is { } digest)
        {
            moduleCache.Unpin(digest);
            modulesReleased?.Invoke();
        }

        ReleaseAdopted(key);
    }

    /// <summary>Writes the in-progress status of a new generation (no event: nothing happened yet); returns the version written.</summary>
    private async Task<string?> WriteProgressAsync(string key, WasmPlugin plugin, CancellationToken cancellationToken)
    {
        var generation = plugin.Metadata?.Generation ?? 0;
        var message = $"generation {generation}: resolving, fetching and checking {plugin.Spec?.Url}"
            + (_applied.TryGetValue(key, out var applied) ? $"; revision {applied.Revision} stays in effect meanwhile" : string.Empty);
        var updated = await PatchStatusAsync(plugin, StatusBuilder.Progressing(plugin, message, _time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        if (updated is not null)
        {
            Remember(key, plugin.Metadata!.ResourceVersion, updated);
        }

        metrics.StatusPatches.Inc();
        LogStatus(logger, key, OutcomeKind.Transient, ConditionReasons.Progressing, message);
        return updated?.Metadata?.ResourceVersion;
    }

    private async Task<WasmPlugin?> PatchStatusAsync(WasmPlugin plugin, WasmPluginStatus status, CancellationToken cancellationToken)
    {
        // A JSON patch that sets the whole of /status ("add" replaces a member that exists): in a merge patch an
        // absent key means "leave it", so a key the new status no longer has (the stable spec's pluginConfig, the
        // manifestDigest of an oci:// url now file://) stayed and the recorded revision no longer hashed to itself.
        var patch = new JsonArray
        {
            new JsonObject { ["op"] = "add", ["path"] = "/status", ["value"] = JsonSerializer.SerializeToNode(status, WasmPluginSerializer.Options) },
        };
        var written = await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(patch.ToJsonString(), V1Patch.PatchType.JsonPatch), WasmPlugin.Group, WasmPlugin.Version,
            plugin.Metadata!.Namespace, WasmPlugin.Plural, plugin.Metadata.Name, cancellationToken: cancellationToken).ConfigureAwait(false);
        return written is JsonElement element ? element.Deserialize<WasmPlugin>(WasmPluginSerializer.Options) : null;
    }

    private async Task WriteStatusAsync(string key, WasmPlugin plugin, PluginOutcome outcome, string? progressVersion, CancellationToken cancellationToken)
    {
        var ready = outcome.Kind == OutcomeKind.Ready;
        var stable = ready ? RevisionRestorer.Record(outcome.Desired!, outcome.Module?.ResolvedRef) : null;
        var status = StatusBuilder.Build(plugin, outcome, stable, ready ? outcome.Module : plugin.Status?.Module, _time.GetUtcNow());
        if (StatusBuilder.SameAs(plugin.Status, status))
        {
            return;
        }

        if (await PatchStatusAsync(plugin, status, cancellationToken).ConfigureAwait(false) is { } updated)
        {
            Remember(key, plugin.Metadata!.ResourceVersion, updated);
            // The in-progress status this pass wrote first is older than this one too: a copy of it is not current.
            Remember(key, progressVersion, updated);
        }

        metrics.StatusPatches.Inc();
        LogStatus(logger, key, outcome.Kind, outcome.Reason, outcome.Message);

        var before = plugin.Status?.Conditions?.Find(c => c.Type == ConditionTypes.Ready);
        var revisionChanged = stable is not null && stable.Revision != plugin.Status?.Revisions?.Stable?.Revision;
        if (ready && (revisionChanged || before?.Status != ConditionStatus.True))
        {
            await events.RecordAsync(plugin, EventRecorder.Normal, "RevisionReady", outcome.Message, cancellationToken).ConfigureAwait(false);
        }

        if (ready && StatusBuilder.CanaryNotSupported(plugin.Spec, stable!.Revision) is { } canary && before?.Message?.Contains(canary, StringComparison.Ordinal) != true)
        {
            // Ready, as the revision runs; but not the way the spec asked: once per revision, where it is seen.
            await events.RecordAsync(plugin, EventRecorder.Warning, ConditionReasons.Unsupported, canary, cancellationToken).ConfigureAwait(false);
        }

        var verified = status.Conditions?.Find(c => c.Type == ConditionTypes.ModuleVerified);
        if (ready && outcome.ModuleNote is not null && verified?.Message is { } note
            && note != plugin.Status?.Conditions?.Find(c => c.Type == ConditionTypes.ModuleVerified)?.Message)
        {
            // Ready, as the module loads; but Envoy would refuse it and the calls fail where they are made.
            await events.RecordAsync(plugin, EventRecorder.Warning, MissingImportsEvent, note, cancellationToken).ConfigureAwait(false);
        }
        else if (!ready && (before?.Reason != outcome.Reason || before.Message != outcome.Message))
        {
            await events.RecordAsync(plugin, EventRecorder.Warning, outcome.Reason, outcome.Message, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<ReconcileResult> FinalizeAsync(string key, WasmPlugin plugin, CancellationToken cancellationToken)
    {
        Release(key);
        var finalizers = Finalizers(plugin);
        var index = finalizers.IndexOf(Finalizer);
        if (index < 0)
        {
            return ReconcileResult.Done;
        }

        // JSON patch with a test: removes our entry only if it is still at that index.
        var patch = new JsonArray
        {
            new JsonObject { ["op"] = "test", ["path"] = $"/metadata/finalizers/{index}", ["value"] = Finalizer },
            new JsonObject { ["op"] = "remove", ["path"] = $"/metadata/finalizers/{index}" },
        };
        try
        {
            await client.CustomObjects.PatchNamespacedCustomObjectAsync(
                new V1Patch(patch.ToJsonString(), V1Patch.PatchType.JsonPatch), WasmPlugin.Group, WasmPlugin.Version,
                plugin.Metadata!.Namespace, WasmPlugin.Plural, plugin.Metadata.Name, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.UnprocessableEntity)
        {
            return ReconcileResult.Retry;
        }

        LogFinalized(logger, key);
        return ReconcileResult.Done;
    }

    private async Task<WasmPlugin> AddFinalizerAsync(WasmPlugin plugin, CancellationToken cancellationToken)
    {
        var finalizers = new JsonArray();
        foreach (var f in Finalizers(plugin))
        {
            finalizers.Add(f);
        }

        finalizers.Add(Finalizer);

        // A merge patch carrying resourceVersion: if the object changed meanwhile the server answers 409.
        var patch = new JsonObject
        {
            ["metadata"] = new JsonObject { ["resourceVersion"] = plugin.Metadata!.ResourceVersion, ["finalizers"] = finalizers },
        };
        var updated = await client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), WasmPlugin.Group, WasmPlugin.Version,
            plugin.Metadata.Namespace, WasmPlugin.Plural, plugin.Metadata.Name, cancellationToken: cancellationToken).ConfigureAwait(false);
        return updated is JsonElement element ? element.Deserialize<WasmPlugin>(WasmPluginSerializer.Options) ?? plugin : plugin;
    }

    private static List<string> Finalizers(WasmPlugin plugin)
    {
        var result = new List<string>();
        if (plugin.Metadata?.Extra?.TryGetValue("finalizers", out var list) == true && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in list.EnumerateArray())
            {
                if (item.GetString() is { } f)
                {
                    result.Add(f);
                }
            }
        }

        return result;
    }

    /// <summary>One reconcile pass over a key's evaluation, cancellable by a newer generation (the queue runs one pass per key at a time).</summary>
    private sealed class Pass(WasmPluginReconciler owner, string key, long generation, CancellationToken cancellationToken) : IDisposable
    {
        private readonly CancellationTokenSource _source = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        private volatile bool _superseded;

        public long Generation { get; } = generation;

        public CancellationToken Token => _source.Token;

        public bool Superseded => _superseded;

        public void Supersede()
        {
            _superseded = true;
            try
            {
                _source.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The pass ended meanwhile: nothing left to stop.
            }
        }

        public void Dispose()
        {
            owner._passes.TryRemove(new KeyValuePair<string, Pass>(key, this));
            _source.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Key}: {Kind} ({Reason}): {Message}")]
    private static partial void LogStatus(ILogger logger, string key, OutcomeKind kind, string reason, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Key}: conflict, retrying with a fresh copy: {Detail}")]
    private static partial void LogConflict(ILogger logger, string key, string? detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Key}: the current spec fails; restored revision {Revision} (generation {Generation}) from status")]
    private static partial void LogRestored(ILogger logger, string key, string revision, long generation);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Key}: handed out stable revision {Revision} (generation {Generation}) from the cache before fetching the spec again")]
    private static partial void LogRestoredEarly(ILogger logger, string key, string revision, long generation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Key}: the stable revision recorded in status is not handed out at start: {Problem}")]
    private static partial void LogNotRestoredAtStart(ILogger logger, string key, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Key}: generation {Generation} is superseded (the spec changed or the plugin is being deleted); its fetch is no longer waited for")]
    private static partial void LogSuperseded(ILogger logger, string key, long generation);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Key}: removing the finalizer failed ({Status}); the queued pass retries it")]
    private static partial void LogFinalizeLeftToQueue(ILogger logger, string key, int status);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Key}: removed from the desired state and finalized")]
    private static partial void LogFinalized(ILogger logger, string key);

    /// <summary>An object as our write left it on the server, and the resource versions our writes replaced since the cache last caught up.</summary>
    private sealed record OwnWrite(HashSet<string> Replaced, WasmPlugin Object);
}
