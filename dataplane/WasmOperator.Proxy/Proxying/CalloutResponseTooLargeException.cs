namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// A callout's response was larger than <see cref="Configuration.ProxyOptions.MaxCalloutResponseBytes"/> (its
/// Content-Length, or the bytes read so far), or a gRPC stream's messages the plugin sent and the upstream has not taken
/// yet went over it (<see cref="Sending"/>): the call was reset, as Envoy's async client resets one over its buffer
/// limit. The plugin gets a failed callout; <see cref="PluginHost"/> logs it.
/// </summary>
internal sealed class CalloutResponseTooLargeException : Exception
{
    public CalloutResponseTooLargeException(string cluster, int limit, bool sending = false)
        : base(sending
            ? $"messages sent to cluster '{cluster}' and not yet taken by it are more than {limit} bytes (--max-callout-response-bytes)"
            : $"response from cluster '{cluster}' is larger than {limit} bytes (--max-callout-response-bytes)")
    {
        Cluster = cluster;
        Limit = limit;
        Sending = sending;
    }

    /// <summary>What went over the limit was what the plugin sent on a gRPC stream, not what the cluster answered.</summary>
    public bool Sending { get; }

    /// <summary>The cluster the callout was for.</summary>
    public string Cluster { get; }

    /// <summary>The limit it went over, in bytes.</summary>
    public int Limit { get; }
}
