namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// An HTTP callout the proxy could not build or send as the plugin asked (an invalid method, a header value that would
/// split the request): nothing reached <see cref="Cluster"/>, and no retry can change that. The plugin gets the failed
/// callout as before; <see cref="PluginHost"/> logs it, since an upstream failure it would otherwise pass for is not.
/// </summary>
internal sealed class CalloutNotSentException : Exception
{
    public CalloutNotSentException(string cluster, string message, Exception? inner = null)
        : base(message, inner) => Cluster = cluster;

    /// <summary>The cluster the callout was for.</summary>
    public string Cluster { get; }
}
