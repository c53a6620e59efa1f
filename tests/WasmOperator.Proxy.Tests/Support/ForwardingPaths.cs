using WasmOperator.Proxy.Configuration;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>The three ways a plain HTTP/1.x request goes upstream, for tests that check each gives the same answer.</summary>
public static class ForwardingPaths
{
    /// <summary>Through no plugin on the fast path, through YARP, through a plugin.</summary>
    public enum Via
    {
        Fast,
        Yarp,
        Plugin,
    }

    /// <summary>A proxy to <paramref name="upstream"/> that sends its requests the <paramref name="path"/> way.</summary>
    internal static Task<ProxyHarness> ProxyToAsync(Uri upstream, Via path = Via.Fast) =>
        ProxyHarness.StartAsync(path == Via.Plugin ? Yaml(Plugin("pass", Wat("pass_through"), "pass")) : "plugins: []\n", o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = upstream;
            o.Http1Forwarder = path != Via.Yarp;
        });
}
