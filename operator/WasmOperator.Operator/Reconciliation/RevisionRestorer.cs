using System.Text.Json;
using System.Text.Json.Nodes;
using WasmOperator.Api.Serialization;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Modules;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// The last good revision survives a restart in status.revisions.stable: its generation, module digest, a
/// digest-pinned reference and the spec it was made from. When the current spec fails on a fresh operator,
/// this rebuilds that revision's desired state: the module from the cache by digest, else fetched again by the
/// digest-pinned reference (never by a tag that may have moved).
/// </summary>
internal sealed class RevisionRestorer(ModuleResolver resolver, IModuleCache moduleCache)
{
    /// <summary>What status.revisions.stable records for <paramref name="desired"/>.</summary>
    public static RevisionRef Record(DesiredPlugin desired, string? resolvedRef) => new()
    {
        Revision = desired.Revision,
        ModuleDigest = desired.ModuleDigest,
        Generation = desired.Generation,
        ResolvedRef = resolvedRef,
        AbiVersion = desired.AbiVersion,
        Spec = JsonSerializer.SerializeToNode(desired.Spec, WasmPluginSerializer.Options) as JsonObject,
    };

    /// <summary>
    /// Rebuilds the stable revision recorded in <paramref name="plugin"/>'s status; on failure, says why in a
    /// sentence fit for a condition message, and whether trying again may help. Without <paramref name="fetchMissing"/>
    /// a module not in the cache restores nothing, quietly: nothing is asked of a registry.
    /// </summary>
    public async Task<(DesiredPlugin? Desired, string? Problem, bool Transient)> RestoreAsync(
        string key, WasmPlugin plugin, bool fetchMissing, ModuleLease lease, CancellationToken cancellationToken)
    {
        var stable = plugin.Status?.Revisions?.Stable;
        if (stable?.Revision is not { } revision || stable.ModuleDigest is not { } digest)
        {
            return (null, null, false);
        }

        var spec = stable.Spec?.Deserialize<WasmPluginSpec>(WasmPluginSerializer.Options);
        if (spec is null)
        {
            return (null, $"the last good revision {revision} cannot be restored: status.revisions.stable has no spec (written by an older operator)", false);
        }

        // The record must describe the revision it names, or it was edited: hand out nothing rather than something else.
        if (RevisionHasher.Compute(digest, spec) != revision)
        {
            return (null, $"the last good revision {revision} cannot be restored: status.revisions.stable.spec does not hash to it", false);
        }

        string? path;
        try
        {
            path = await moduleCache.TryGetPathAsync(digest, cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException)
        {
            return (null, $"the last good revision {revision} cannot be restored: status.revisions.stable.moduleDigest \"{digest}\" is not a sha256 digest", false);
        }

        if (path is not null && !lease.TryHold(digest))
        {
            // Evicted since it was looked up (a fetch committed over the size cap): it is not cached after all.
            path = null;
        }

        if (path is null && !fetchMissing)
        {
            return (null, null, false);
        }

        if (path is null)
        {
            var (fetched, failure) = await resolver.FetchAsync(plugin, PinnedSpec(spec, stable), lease, cancellationToken).ConfigureAwait(false);
            if (fetched is null)
            {
                return (null, $"the last good revision {revision} cannot be restored: module {digest} is not in the cache and fetching {stable.ResolvedRef ?? spec.Url} failed: {failure!.Message}", failure.Kind == OutcomeKind.Transient);
            }

            if (fetched.ModuleDigest != digest)
            {
                return (null, $"the last good revision {revision} cannot be restored: {stable.ResolvedRef ?? spec.Url} now serves module {fetched.ModuleDigest}, not {digest}", false);
            }

            path = fetched.Path;
        }

        return (new DesiredPlugin
        {
            Key = key,
            Revision = revision,
            Generation = stable.Generation ?? 0,
            ModuleDigest = digest,
            ModulePath = path,
            AbiVersion = stable.AbiVersion ?? "unknown",
            Spec = spec,
        }, null, false);
    }

    /// <summary>
    /// Under imagePullPolicy IfNotPresent an oci tag is resolved once per generation: while the plugin's generation is
    /// the one status.revisions.stable records, it is fetched by the digest recorded there (the cache first, else the
    /// registry by that digest), never by the tag again. By the tag, a restart with an empty cache, or a plugin pulling
    /// the same tag Always, moved an unchanged plugin to whatever the tag names now while status still named the old
    /// digest. Null when the tag is to be resolved: another policy, a new generation, a url that has no tag.
    /// </summary>
    public static WasmPluginSpec? KeptDigestSpec(WasmPlugin plugin)
    {
        var spec = plugin.Spec;
        var stable = plugin.Status?.Revisions?.Stable;
        if (spec?.Url is not { } url || stable?.ResolvedRef is not { } resolved || stable.ModuleDigest is null
            || stable.Generation != (plugin.Metadata?.Generation ?? 0)
            || PullPolicies.Effective(spec) != ModulePullPolicy.IfNotPresent
            || !ModuleUrls.IsOciTag(url, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        // Same generation, so the same spec, unless status was edited: then the record is not this spec's. Status is a
        // hint, not an order: the pin must be spec.url's own repository by digest, and the digest spec.sha256 names, if
        // any; else the tag is resolved as for a new generation. A hand-edited resolvedRef had run another repository's
        // module, spec.sha256 unchecked.
        return stable.Spec?["url"] is JsonValue recorded && recorded.TryGetValue<string>(out var recordedUrl) && recordedUrl == url
            && OciPins.IsPinOf(url, resolved, out var digest)
            && (string.IsNullOrEmpty(spec.Sha256) || digest == "sha256:" + spec.Sha256)
            ? PinnedSpec(spec, stable)
            : null;
    }

    // Fetch by digest: for oci the resolved registry/repo@sha256:<manifest>, for https/http/file the url with the module's sha256.
    private static WasmPluginSpec PinnedSpec(WasmPluginSpec spec, RevisionRef stable)
    {
        var reference = stable.ResolvedRef ?? spec.Url ?? string.Empty;
        var direct = ModuleUrls.IsDirect(reference);
        var pinned = JsonSerializer.Deserialize<WasmPluginSpec>(JsonSerializer.SerializeToUtf8Bytes(spec, WasmPluginSerializer.Options), WasmPluginSerializer.Options)!;
        pinned.Url = reference;
        pinned.Sha256 = direct ? stable.ModuleDigest!["sha256:".Length..] : null;
        pinned.ImagePullPolicy = PullPolicy.IfNotPresent;
        return pinned;
    }
}
