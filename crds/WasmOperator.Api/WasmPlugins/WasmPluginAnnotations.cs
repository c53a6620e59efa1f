namespace WasmOperator.Api.WasmPlugins;

/// <summary>Annotations users set on a WasmPlugin to steer a rollout by hand (kept out of the spec, so GitOps-friendly).</summary>
public static class WasmPluginAnnotations
{
    /// <summary>"true" promotes the canary past the current pause (or to 100%).</summary>
    public const string Promote = WasmPlugin.Group + "/promote";

    /// <summary>"true" aborts the rollout: weight back to 0, the stable revision runs everywhere.</summary>
    public const string Abort = WasmPlugin.Group + "/abort";
}
