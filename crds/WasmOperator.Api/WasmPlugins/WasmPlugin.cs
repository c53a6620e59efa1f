using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>
/// WasmPlugin runs a Proxy-Wasm module in the proxies of the selected workloads. The spec is compatible with
/// Istio's extensions.istio.io/v1alpha1 WasmPlugin and adds LOG_ONLY mode, canary rollouts and sandbox limits.
/// </summary>
[CustomResource(Group, Version, KindName, Plural, ShortNames = ["wp"], Categories = ["wasm"])]
[PrinterColumn("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status", Description = "Whether every selected proxy runs the desired revision")]
[PrinterColumn("Phase", "string", ".status.rollout.phase", Description = "Rollout phase")]
[PrinterColumn("Weight", "integer", ".status.rollout.weight", Description = "Percent of eligible workloads on the canary revision")]
[PrinterColumn("Workloads", "string", ".status.workloads.summary", Description = "Ready/selected proxies")]
[PrinterColumn("Age", "date", ".metadata.creationTimestamp")]
public sealed class WasmPlugin
{
    /// <summary>The API group.</summary>
    public const string Group = "extensions.wasmoperator.io";

    /// <summary>The API version within the group.</summary>
    public const string Version = "v1alpha1";

    /// <summary>The kind.</summary>
    public const string KindName = "WasmPlugin";

    /// <summary>The plural resource name.</summary>
    public const string Plural = "wasmplugins";

    /// <summary>group/version, the value of <see cref="ApiVersion"/>.</summary>
    public const string GroupVersion = Group + "/" + Version;

    /// <summary>APIVersion defines the versioned schema of this representation of an object.</summary>
    [JsonPropertyName("apiVersion")]
    public string? ApiVersion { get; set; } = GroupVersion;

    /// <summary>Kind is a string value representing the REST resource this object represents.</summary>
    [JsonPropertyName("kind")]
    public string? Kind { get; set; } = KindName;

    /// <summary>Standard object metadata.</summary>
    [JsonPropertyName("metadata")]
    public ObjectMeta? Metadata { get; set; }

    /// <summary>The desired plugin: which module, where it runs, how it is configured and rolled out.</summary>
    [JsonPropertyName("spec")]
    [Required]
    public WasmPluginSpec? Spec { get; set; }

    /// <summary>What the operator observed: the module it resolved, revisions, rollout progress and proxy health.</summary>
    [JsonPropertyName("status")]
    public WasmPluginStatus? Status { get; set; }
}
