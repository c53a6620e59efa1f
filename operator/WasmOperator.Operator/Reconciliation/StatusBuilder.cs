using System.Text.Json;
using System.Text.Json.Nodes;
using WasmOperator.Api.Serialization;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Validation.Cel;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// Summarizes an outcome into status with kstatus polarity: Ready (positive), Reconciling and Stalled
/// (negative polarity, written as False when not in effect), and ModuleVerified.
/// A condition keeps its lastTransitionTime unless its status flips, so an unchanged outcome yields an
/// identical status and no write.
/// </summary>
internal static class StatusBuilder
{
    public static WasmPluginStatus Build(WasmPlugin plugin, PluginOutcome outcome, RevisionRef? stable, ModuleStatus? module, DateTimeOffset now)
    {
        var old = plugin.Status;
        var generation = plugin.Metadata?.Generation ?? 0;
        var conditions = new List<Condition>();
        void Set(string type, ConditionStatus status, string reason, string message) =>
            conditions.Add(Make(old, type, status, reason, message, generation, now));

        switch (outcome.Kind)
        {
            case OutcomeKind.Ready:
                Set(ConditionTypes.Ready, ConditionStatus.True, ConditionReasons.Succeeded,
                    CanaryNotSupported(plugin.Spec, outcome.Desired?.Revision) is { } canary ? $"{outcome.Message}; {canary}" : outcome.Message);
                Set(ConditionTypes.Reconciling, ConditionStatus.False, ConditionReasons.Succeeded, "the desired revision is handed to the proxies");
                Set(ConditionTypes.Stalled, ConditionStatus.False, ConditionReasons.Succeeded, "no error");
                Set(ConditionTypes.ModuleVerified, ConditionStatus.True, ConditionReasons.Succeeded,
                    $"module {module?.ModuleDigest} verified: {module?.Size} bytes, Proxy-Wasm ABI {module?.AbiVersion}"
                    + (outcome.ModuleNote is { } note ? $"; {note}" : string.Empty));
                break;
            case OutcomeKind.Transient:
                Set(ConditionTypes.Ready, ConditionStatus.False, outcome.Reason, outcome.Message);
                Set(ConditionTypes.Reconciling, ConditionStatus.True, outcome.Reason, outcome.Message + outcome switch
                {
                    // Both name when they are tried again in the message itself.
                    { RetryAt: not null } or { RetriedAtMostEvery: not null } => string.Empty,
                    _ => "; retrying with backoff",
                });
                Set(ConditionTypes.Stalled, ConditionStatus.False, ConditionReasons.Progressing, "the fault may be transient");
                if (old?.Conditions?.Find(c => c.Type == ConditionTypes.ModuleVerified) is { Status: ConditionStatus.True } verified
                    && verified.ObservedGeneration == generation && module?.Url == plugin.Spec?.Url)
                {
                    // Re-resolving the url of an unchanged spec failed (a registry outage under imagePullPolicy Always): the
                    // module it resolved to before, the one status.module shows and the proxies run, is still the verified
                    // one. A new generation (another sha256 or pull secret, say) has a module not verified yet.
                    Set(ConditionTypes.ModuleVerified, ConditionStatus.True, verified.Reason ?? ConditionReasons.Succeeded, verified.Message ?? string.Empty);
                }
                else
                {
                    Set(ConditionTypes.ModuleVerified, ConditionStatus.Unknown, outcome.Reason, "the module could not be fetched yet");
                }

                break;
            default:
                Set(ConditionTypes.Ready, ConditionStatus.False, outcome.Reason, outcome.Message);
                // An interval, not the time of the next pass: a time would change the status, and be written, on every pass.
                Set(ConditionTypes.Reconciling, ConditionStatus.False, outcome.Reason, outcome.ResolvedAgainEvery is { } every
                    ? outcome.Reason == ConditionReasons.CertificateRejected
                        ? $"spec.url is tried again every {GoDuration.Format(every)} (a renewed certificate is picked up then), on a spec change, or when the operator restarts with a changed trust store"
                        : $"spec.url is resolved again every {GoDuration.Format(every)} (imagePullPolicy Always) or on a spec change"
                    : outcome.Reason == ConditionReasons.AuthFailed && plugin.Spec?.ImagePullSecret is { Length: > 0 } secret
                        // A change to the named Secret requeues the plugin: fixing the credentials alone recovers it.
                        ? $"waiting for a spec change or a change to Secret {plugin.Metadata?.Namespace}/{secret}"
                        : "waiting for a spec change");
                Set(ConditionTypes.Stalled, ConditionStatus.True, outcome.Reason, outcome.Message);
                Set(ConditionTypes.ModuleVerified, outcome.ModuleRejected ? ConditionStatus.False : ConditionStatus.Unknown, outcome.Reason,
                    outcome.ModuleRejected ? outcome.Message : "the module was not verified");
                break;
        }

        return new WasmPluginStatus
        {
            ObservedGeneration = generation,
            Conditions = conditions,
            Module = module,
            Revisions = stable is null ? old?.Revisions : new RevisionsStatus { Stable = stable, Canary = old?.Revisions?.Canary },
            Rollout = old?.Rollout,
            Workloads = old?.Workloads,
        };
    }

    /// <summary>
    /// The status of a generation still being resolved, fetched and checked: in progress (kstatus: Reconciling=True, Ready
    /// Unknown), so that nothing reads the previous generation's Ready=True as this one's. What runs is unchanged.
    /// </summary>
    public static WasmPluginStatus Progressing(WasmPlugin plugin, string message, DateTimeOffset now)
    {
        var old = plugin.Status;
        var generation = plugin.Metadata?.Generation ?? 0;
        List<Condition> conditions =
        [
            Make(old, ConditionTypes.Ready, ConditionStatus.Unknown, ConditionReasons.Progressing, message, generation, now),
            Make(old, ConditionTypes.Reconciling, ConditionStatus.True, ConditionReasons.Progressing, message, generation, now),
            Make(old, ConditionTypes.Stalled, ConditionStatus.False, ConditionReasons.Progressing, "no error so far", generation, now),
            Make(old, ConditionTypes.ModuleVerified, ConditionStatus.Unknown, ConditionReasons.Progressing, $"the module of generation {generation} is not verified yet", generation, now),
        ];
        return new WasmPluginStatus
        {
            ObservedGeneration = generation,
            Conditions = conditions,
            Module = old?.Module,
            Revisions = old?.Revisions,
            Rollout = old?.Rollout,
            Workloads = old?.Workloads,
        };
    }

    /// <summary>
    /// What a Ready plugin with canary steps must be told: the steps are not run yet, the revision goes to every
    /// selected workload at once. Not Stalled, as the plugin works; a canary without steps means "all at once"
    /// in the API, which is what happens, so it needs no note.
    /// </summary>
    public static string? CanaryNotSupported(WasmPluginSpec? spec, string? revision) =>
        spec?.Rollout?.Canary?.Steps is { Count: > 0 } steps
            ? $"spec.rollout.canary is not supported yet: revision {revision} applies to every selected workload at once and its {steps.Count} "
              + (steps.Count == 1 ? "step is" : "steps are") + " skipped; to try a revision on some workloads first, use a second WasmPlugin whose spec.selector picks them"
            : null;

    // Compared as JSON trees: an API server may hand back the free-form parts (the recorded spec) with keys reordered.
    public static bool SameAs(WasmPluginStatus? a, WasmPluginStatus? b) =>
        JsonNode.DeepEquals(JsonSerializer.SerializeToNode(a, WasmPluginSerializer.Options), JsonSerializer.SerializeToNode(b, WasmPluginSerializer.Options));

    private static Condition Make(WasmPluginStatus? old, string type, ConditionStatus status, string reason, string message, long generation, DateTimeOffset now)
    {
        var previous = old?.Conditions?.Find(c => c.Type == type);
        return new Condition
        {
            Type = type,
            Status = status,
            Reason = reason,
            Message = message,
            ObservedGeneration = generation,
            LastTransitionTime = previous is not null && previous.Status == status && previous.LastTransitionTime is { } t ? t : Truncate(now),
        };
    }

    // metav1.Time has second precision; a sub-second value would read back different and look like a change.
    private static DateTimeOffset Truncate(DateTimeOffset t) => new(t.Ticks - (t.Ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
}
