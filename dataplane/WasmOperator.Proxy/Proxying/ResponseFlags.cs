using WasmOperator.Proxy.Forwarding;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// Envoy's response flags (the legacy bit set plugins read as <c>response.flags</c>, StreamInfo's legacyResponseFlags):
/// the ones this proxy can tell, with their access-log names. Istio's stats plugin turns them into its response_flags label.
/// </summary>
internal static class ResponseFlags
{
    /// <summary>UT: no upstream response within the timeout.</summary>
    public const long UpstreamRequestTimeout = 0x4;

    /// <summary>UF: no connection to the upstream could be made.</summary>
    public const long UpstreamConnectionFailure = 0x20;

    /// <summary>UC: the upstream connection ended (before the response, or in the middle of it).</summary>
    public const long UpstreamConnectionTermination = 0x40;

    /// <summary>DC: the client reset its stream or went away.</summary>
    public const long DownstreamConnectionTermination = 0x4000;

    /// <summary>SI: the stream idle timeout ended the stream.</summary>
    public const long StreamIdleTimeout = 0x10000;

    /// <summary>UPE: the upstream's response was not valid HTTP.</summary>
    public const long UpstreamProtocolError = 0x800000;

    /// <summary>The flag of a forwarding that failed this way (0 for none Envoy would set).</summary>
    public static long For(ForwardResult result) => result switch
    {
        ForwardResult.ConnectFailed or ForwardResult.ConnectTimedOut => UpstreamConnectionFailure,
        ForwardResult.RequestFailed or ForwardResult.ResponseAborted => UpstreamConnectionTermination,
        ForwardResult.InvalidResponse => UpstreamProtocolError,
        ForwardResult.Timeout => UpstreamRequestTimeout,
        ForwardResult.ClientAborted => DownstreamConnectionTermination,
        _ => 0,
    };
}
