namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// A callout's response was larger than <see cref="Configuration.ProxyOptions.MaxCalloutResponseBytes"/> (its
/// Content-Length, or the bytes read so far): the call was reset, as Envoy's async client resets one over its buffer
/// limit. The plugin gets a failed callout; <see cref="PluginHost"/> logs it.
/// </summary>
internal sealed class CalloutResponseTooLargeException : Exception
{
    public CalloutResponseTooLargeException(string cluster, int limit)
        : base($"response from cluster '{cluster}' is larger than {limit} bytes (--max-callout-response-bytes)")
    {
        Cluster = cluster;
        Limit = limit;
    }

    /// <summary>The cluster the callout was for.</summary>
    public string Cluster { get; }

    /// <summary>The limit it went over, in bytes.</summary>
    public int Limit { get; }
}
