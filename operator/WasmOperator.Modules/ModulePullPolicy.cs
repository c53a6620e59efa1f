namespace WasmOperator.Modules;

/// <summary>When a cached module may be used instead of asking the source again.</summary>
public enum ModulePullPolicy
{
    /// <summary>Use the cached module for this URL when there is one (the API's default).</summary>
    IfNotPresent,

    /// <summary>Resolve the reference again; download only if it now points at other content.</summary>
    Always,
}
