namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// Thrown synchronously by an <see cref="IPluginHost"/> callout method when the proxy refuses the callout itself.
/// The hostcall then answers the plugin with a status, as Envoy's does (an unknown cluster: BAD_ARGUMENT for
/// <c>proxy_http_call</c>, PARSE_FAILURE for a gRPC call or stream named by a bare cluster name; an overflow:
/// INTERNAL_FAILURE; a request that cannot be sent as asked: BAD_ARGUMENT), and no callback ever comes for it.
/// </summary>
public sealed class CalloutRefusedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CalloutRefusedException(CalloutRefusal reason, string message) : base(message) => Reason = reason;

    /// <summary>Creates the exception (an unknown cluster).</summary>
    public CalloutRefusedException(string message) : this(CalloutRefusal.UnknownCluster, message) { }

    /// <summary>Creates the exception (an unknown cluster) with its cause.</summary>
    public CalloutRefusedException(string message, Exception inner) : base(message, inner) => Reason = CalloutRefusal.UnknownCluster;

    /// <summary>Creates the exception (an unknown cluster).</summary>
    public CalloutRefusedException() => Reason = CalloutRefusal.UnknownCluster;

    /// <summary>Why the callout was refused.</summary>
    public CalloutRefusal Reason { get; }
}
