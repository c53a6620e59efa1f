using WasmOperator.Api.WasmPlugins;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>One plugin as proxies must run it: a verified module and everything else that makes the revision.</summary>
internal sealed record DesiredPlugin
{
    /// <summary>namespace/name of the WasmPlugin.</summary>
    public required string Key { get; init; }

    public required string Revision { get; init; }

    public required long Generation { get; init; }

    /// <summary>sha256:… of the module bytes.</summary>
    public required string ModuleDigest { get; init; }

    /// <summary>The module file in the operator's cache (pinned while this revision is desired).</summary>
    public required string ModulePath { get; init; }

    public required string AbiVersion { get; init; }

    /// <summary>The spec the revision was computed from.</summary>
    public required WasmPluginSpec Spec { get; init; }
}
