namespace WasmOperator.Modules;

/// <summary>What to fetch: the WasmPlugin's url, sha256, imagePullPolicy and pull secret.</summary>
public sealed record ModuleRequest
{
    /// <summary><c>oci://</c> (or no scheme), <c>https://</c>, <c>http://</c> (insecure allowlist only) or <c>file://</c>.</summary>
    public required string Url { get; init; }

    /// <summary>
    /// Optional lowercase hex sha256: for OCI the manifest digest, for http(s) and file the module bytes.
    /// </summary>
    public string? Sha256 { get; init; }

    /// <summary>
    /// Pull policy; null (the API's <c>UNSPECIFIED_POLICY</c> or unset) means <see cref="ModulePullPolicy.IfNotPresent"/>,
    /// except <see cref="ModulePullPolicy.Always"/> for an OCI reference with the tag <c>latest</c> and no digest.
    /// </summary>
    public ModulePullPolicy? PullPolicy { get; init; }

    /// <summary>The <c>.dockerconfigjson</c> payload of a <c>kubernetes.io/dockerconfigjson</c> Secret, if any.</summary>
    public ReadOnlyMemory<byte>? PullSecret { get; init; }

    /// <summary>
    /// Where <see cref="PullSecret"/> came from, as <c>namespace/name</c> of its Secret: errors about an unreadable
    /// payload name it (and never quote the payload). Null when unknown.
    /// </summary>
    public string? PullSecretName { get; init; }

    /// <summary>
    /// When set, the module returned is held by this lease (not evicted until it is disposed): the consumer has it
    /// until its own pin. Without one, a concurrent fetch over the cache's size cap may evict it before that.
    /// </summary>
    public ModuleLease? Lease { get; init; }
}
