using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Runtime.Cache;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// Maps a Secret to the WasmPlugins that name it in spec.imagePullSecret (controller-runtime's
/// EnqueueRequestsFromMapFunc): a pull secret created or changed after its plugin requeues the plugin
/// at once instead of leaving it to the backoff.
/// </summary>
internal static class PullSecretReferences
{
    /// <summary>Keys of the plugins in the Secret's namespace whose imagePullSecret is its name.</summary>
    public static List<string> PluginsUsing(ObjectCache<WasmPlugin> plugins, string secretKey)
    {
        var result = new List<string>();
        var slash = secretKey.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return result;
        }

        var ns = secretKey[..slash];
        var name = secretKey[(slash + 1)..];
        foreach (var plugin in plugins.ListNamespace(ns))
        {
            if (plugin.Spec?.ImagePullSecret == name && plugin.Metadata?.Name is { } pluginName)
            {
                result.Add(ObjectCache<WasmPlugin>.KeyOf(ns, pluginName));
            }
        }

        return result;
    }
}
