using System.Net;
using k8s;
using k8s.Autorest;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Modules;
using WasmOperator.Modules.Failures;
using WasmOperator.Validation.Cel;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// Resolve and fetch: reads the pull secret from the plugin's own namespace (it never leaves the operator),
/// applies the pull policy and sorts fetch failures into those that need a spec change (Stalled) and those
/// that may pass (Reconciling, retried with backoff). A tag or digest the registry does not have is retried with
/// backoff up to <paramref name="notFoundRetryAtMost"/> apart, not the queue's maximum: it is usually pushed soon after.
/// </summary>
internal sealed class ModuleResolver(IKubernetes client, IModuleFetcher fetcher, TimeSpan notFoundRetryAtMost)
{
    private const string DockerConfigJsonKey = ".dockerconfigjson";
    private const string DockerConfigJsonType = "kubernetes.io/dockerconfigjson";

    /// <summary>Fetches the module of <paramref name="spec"/>; a module returned is held by <paramref name="lease"/> until the caller pinned it.</summary>
    public async Task<(FetchedModule? Module, PluginOutcome? Failure)> FetchAsync(WasmPlugin plugin, WasmPluginSpec spec, ModuleLease lease, CancellationToken cancellationToken)
    {
        ReadOnlyMemory<byte>? secret = null;
        if (!string.IsNullOrEmpty(spec.ImagePullSecret))
        {
            var ns = plugin.Metadata?.Namespace ?? "default";
            try
            {
                var s = await client.CoreV1.ReadNamespacedSecretAsync(spec.ImagePullSecret, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (s.Type != DockerConfigJsonType)
                {
                    // As the kubelet: the type says what the data is; an Opaque Secret with a .dockerconfigjson key was used before.
                    return (null, PluginOutcome.Stalled(ConditionReasons.AuthFailed,
                        $"spec.imagePullSecret: Secret {ns}/{spec.ImagePullSecret} is of type {s.Type ?? "Opaque"}; a pull secret must be of type {DockerConfigJsonType} "
                        + $"(kubectl create secret docker-registry {spec.ImagePullSecret} -n {ns} --docker-server=<registry host> ...); a Secret's type cannot be changed, so delete it and create it again"));
                }

                if (s.Data is null || !s.Data.TryGetValue(DockerConfigJsonKey, out var config))
                {
                    return (null, PluginOutcome.Stalled(ConditionReasons.AuthFailed,
                        $"spec.imagePullSecret: Secret {ns}/{spec.ImagePullSecret} has no {DockerConfigJsonKey}; use a Secret of type {DockerConfigJsonType}"));
                }

                secret = config;
            }
            catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
            {
                // The Secret may be created after the plugin (GitOps order is not guaranteed): retry.
                return (null, PluginOutcome.Transient(ConditionReasons.PullSecretNotFound,
                    $"spec.imagePullSecret: Secret {ns}/{spec.ImagePullSecret} not found; create it in the plugin's namespace"));
            }
        }

        var request = new ModuleRequest
        {
            Url = spec.Url ?? string.Empty,
            Sha256 = string.IsNullOrEmpty(spec.Sha256) ? null : spec.Sha256,
            PullPolicy = PullPolicies.Effective(spec),
            PullSecret = secret,
            PullSecretName = secret is null ? null : $"{plugin.Metadata?.Namespace ?? "default"}/{spec.ImagePullSecret}",
            Lease = lease,
        };
        try
        {
            return (await fetcher.FetchAsync(request, cancellationToken).ConfigureAwait(false), null);
        }
        catch (ChecksumMismatchException ex)
        {
            return (null, PluginOutcome.Stalled(ConditionReasons.DigestMismatch, ex.Message, moduleRejected: true));
        }
        catch (UnsupportedFormatException ex)
        {
            return (null, PluginOutcome.Stalled(ConditionReasons.NotWasm, ex.Message, moduleRejected: true));
        }
        catch (ModuleTooLargeException ex)
        {
            return (null, PluginOutcome.Stalled(ConditionReasons.ModuleTooLarge, ex.Message, moduleRejected: true));
        }
        catch (Exception ex) when (ex is InvalidModuleUrlException or BlockedAddressException)
        {
            return (null, PluginOutcome.Stalled(ConditionReasons.InvalidUrl, ex.Message));
        }
        catch (AuthFailureException ex)
        {
            return (null, PluginOutcome.Stalled(ConditionReasons.AuthFailed, ex.Message));
        }
        catch (CertificateRejectedException ex)
        {
            // Not an outage: the same certificate comes back on every retry. The reconciler tries it again on an interval.
            return (null, PluginOutcome.Stalled(ConditionReasons.CertificateRejected, ex.Message));
        }
        catch (RegistryUnavailableException ex)
        {
            // Not tried: the registry keeps failing. Come back when it is tried again, not with the per-item backoff.
            return (null, PluginOutcome.Transient(ConditionReasons.RegistryUnavailable, ex.Message) with
            {
                RetryAt = ex.RetryAt, AwaitsProbeOf = ex.ProbeOut ? ex.FailedHost ?? ex.Host : null,
            });
        }
        catch (ManifestFailureException ex) when (ex.NotFound)
        {
            // The note goes in the message itself, so that Ready and the Warning event say it is retried, not only Reconciling.
            // An interval, not the time of the next try: the message stays the same from pass to pass.
            var note = $"; it may not be pushed yet: retrying with backoff, at most {GoDuration.Format(notFoundRetryAtMost)} apart";
            return (null, PluginOutcome.Transient(ConditionReasons.FetchFailed, ex.Message + note) with { RetriedAtMostEvery = notFoundRetryAtMost });
        }
        catch (ModuleFetchException ex)
        {
            return (null, PluginOutcome.Transient(ConditionReasons.FetchFailed, ex.Message));
        }
    }
}
