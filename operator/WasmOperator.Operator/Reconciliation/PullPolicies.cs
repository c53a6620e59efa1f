using WasmOperator.Api.WasmPlugins;
using WasmOperator.Modules;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>Istio's rule: unset means IfNotPresent, except Always for an oci image tagged latest (or untagged).</summary>
internal static class PullPolicies
{
    public static ModulePullPolicy Effective(WasmPluginSpec spec)
    {
        switch (spec.ImagePullPolicy)
        {
            case PullPolicy.Always:
                return ModulePullPolicy.Always;
            case PullPolicy.IfNotPresent:
                return ModulePullPolicy.IfNotPresent;
        }

        // oci:// matched as the CRD's rules match it (lower case); the API server refuses any other case anyway.
        var url = spec.Url ?? string.Empty;
        return ModuleUrls.IsOciTag(url, StringComparison.Ordinal) && ModuleUrls.TagOf(url) == "latest"
            ? ModulePullPolicy.Always
            : ModulePullPolicy.IfNotPresent;
    }
}
