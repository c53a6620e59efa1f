namespace WasmOperator.Api.WasmPlugins;

/// <summary>The condition types a WasmPlugin's status carries (kstatus-compatible).</summary>
public static class ConditionTypes
{
    /// <summary>True when every selected proxy runs the desired revision.</summary>
    public const string Ready = "Ready";

    /// <summary>True while the operator is converging towards the spec.</summary>
    public const string Reconciling = "Reconciling";

    /// <summary>True when progress needs a spec change: bad URL, digest mismatch, ABI rejected.</summary>
    public const string Stalled = "Stalled";

    /// <summary>True when the module was fetched and its digest and ABI verified.</summary>
    public const string ModuleVerified = "ModuleVerified";
}
