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

        var url = spec.Url ?? string.Empty;
        var isOci = url.StartsWith("oci://", StringComparison.Ordinal) || !url.Contains("://", StringComparison.Ordinal);
        if (!isOci || url.Contains('@', StringComparison.Ordinal))
        {
            return ModulePullPolicy.IfNotPresent;
        }

        var path = url.StartsWith("oci://", StringComparison.Ordinal) ? url[6..] : url;
        var lastSlash = path.LastIndexOf('/');
        var colon = path.IndexOf(':', lastSlash + 1);
        var tag = colon < 0 ? "latest" : path[(colon + 1)..];
        return tag == "latest" ? ModulePullPolicy.Always : ModulePullPolicy.IfNotPresent;
    }
}
