using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>The desired state of a WasmPlugin. Field names and enum values follow Istio's WasmPlugin.</summary>
[CelRule("(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1",
    "only one of targetRefs or selector can be set")]
[CelRule("!has(self.sha256) || self.sha256 == '' || !has(self.url) || !self.url.contains('@sha256:') || self.url.endsWith('@sha256:' + self.sha256)",
    "sha256 must equal the @sha256: digest in the url", FieldPath = ".sha256")]
// A url without a scheme is oci too, so it gets the same digest rule; an https url may carry user@host.
[CelRule("!has(self.url) || (self.url.contains('://') && !self.url.startsWith('oci://')) || !self.url.contains('@') || self.url.matches('@sha256:[a-f0-9]{64}$')",
    "an oci url (oci:// or no scheme) may only pin a digest as @sha256:<64 lowercase hex digits>", FieldPath = ".url")]
public sealed class WasmPluginSpec
{
    /// <summary>
    /// Criteria used to select the workloads (by pod labels) whose proxies run the plugin. Empty selects every
    /// workload in the namespace; in the operator's root namespace, every workload in the cluster.
    /// </summary>
    [JsonPropertyName("selector")]
    public LabelSelector? Selector { get; set; }

    /// <summary>Deprecated in Istio; use targetRefs. Accepted and validated; reported Unsupported in status.</summary>
    [JsonPropertyName("targetRef")]
    public PolicyTargetReference? TargetRef { get; set; }

    /// <summary>Gateway targets. Accepted and validated; reported Unsupported in status until gateway targets exist.</summary>
    [JsonPropertyName("targetRefs")]
    [MaxItems(16)]
    public List<PolicyTargetReference>? TargetRefs { get; set; }

    /// <summary>
    /// Where the module is: oci:// (the default when there is no scheme), https://, http:// or file://.
    /// </summary>
    [JsonPropertyName("url")]
    [Required]
    [MinLength(1)]
    [MaxLength(2048)]
    [CelRule("!self.contains('://') || self.matches('^(oci|https|http|file)://')",
        "url must have schema one of [http, https, file, oci]")]
    public string? Url { get; set; }

    /// <summary>
    /// The expected digest: for oci the manifest digest, for http(s) and file the SHA-256 of the module bytes.
    /// Must equal an @sha256: digest in the url when both are given.
    /// </summary>
    [JsonPropertyName("sha256")]
    [Pattern("^$|^[a-f0-9]{64}$")]
    public string? Sha256 { get; set; }

    /// <summary>When to pull the module; unset means IfNotPresent, except Always for an oci tag "latest".</summary>
    [JsonPropertyName("imagePullPolicy")]
    public PullPolicy? ImagePullPolicy { get; set; }

    /// <summary>A kubernetes.io/dockerconfigjson Secret in the plugin's namespace with registry credentials.</summary>
    [JsonPropertyName("imagePullSecret")]
    [MinLength(1)]
    [MaxLength(253)]
    public string? ImagePullSecret { get; set; }

    /// <summary>The public key used to verify signatures of the module. Accepted for Istio compatibility; unused.</summary>
    [JsonPropertyName("verificationKey")]
    public string? VerificationKey { get; set; }

    /// <summary>The configuration delivered to proxy_on_configure, as JSON. Any fields are kept.</summary>
    [JsonPropertyName("pluginConfig")]
    [PreserveUnknownFields]
    public JsonObject? PluginConfig { get; set; }

    /// <summary>The Proxy-Wasm root id (plugin_root_id) of the plugin inside the module.</summary>
    /// <remarks>
    /// No control character, and no space at either end: YAML's block scalar (<c>pluginName: |</c>, common in Helm charts)
    /// keeps a line break at the end, which looks right everywhere and matches no root id a module registers.
    /// </remarks>
    [JsonPropertyName("pluginName")]
    [MinLength(1)]
    [MaxLength(256)]
    [Pattern("^$|^[^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?$")]
    public string? PluginName { get; set; }

    /// <summary>Where in the filter chain the plugin runs: AUTHN, AUTHZ, STATS, then UNSPECIFIED_PHASE just before forwarding.</summary>
    [JsonPropertyName("phase")]
    public PluginPhase? Phase { get; set; }

    /// <summary>Order within a phase: higher runs first; unset sorts last; ties by creation time, then namespace/name.</summary>
    [JsonPropertyName("priority")]
    [SchemaNullable]
    public int? Priority { get; set; }

    /// <summary>What the proxy does when the plugin cannot run: FAIL_CLOSE (503), FAIL_OPEN (skip) or FAIL_RELOAD (rebuild and retry once).</summary>
    [JsonPropertyName("failStrategy")]
    [Default("FAIL_CLOSE")]
    public FailStrategy? FailStrategy { get; set; }

    /// <summary>Configuration of the plugin's VM, such as its WASI environment.</summary>
    [JsonPropertyName("vmConfig")]
    public VmConfig? VmConfig { get; set; }

    /// <summary>Which traffic the plugin applies to; the plugin runs when any entry matches.</summary>
    [JsonPropertyName("match")]
    public List<TrafficSelector>? Match { get; set; }

    /// <summary>HTTP (the default when unset) or NETWORK; NETWORK is reported Unsupported until TCP filters exist.</summary>
    [JsonPropertyName("type")]
    public PluginType? Type { get; set; }

    /// <summary>ENFORCE applies what the plugin decides; LOG_ONLY runs it on real traffic but only logs and counts what it would have done.</summary>
    [JsonPropertyName("mode")]
    [Default("ENFORCE")]
    public PluginMode? Mode { get; set; }

    /// <summary>How a new revision reaches the proxies; without it a change goes to all of them at once.</summary>
    [JsonPropertyName("rollout")]
    public RolloutSpec? Rollout { get; set; }

    /// <summary>Sandbox limits per VM shard and per callback.</summary>
    [JsonPropertyName("limits")]
    [DefaultObject]
    public SandboxLimits? Limits { get; set; }
}
