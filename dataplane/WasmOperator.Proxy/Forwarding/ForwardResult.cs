namespace WasmOperator.Proxy.Forwarding;

/// <summary>How forwarding one request ended, with what went wrong (for the log) when it failed.</summary>
internal readonly record struct ForwardOutcome(ForwardResult Result, string? Detail = null)
{
    public static readonly ForwardOutcome Ok = new(ForwardResult.Ok);
}

/// <summary>How forwarding one request ended (the YARP <c>ForwarderError</c> counterpart).</summary>
internal enum ForwardResult
{
    /// <summary>The upstream response was relayed completely, also one the upstream sent before the request body ended.</summary>
    Ok,

    /// <summary>No connection to the upstream could be made: 503 (Envoy's connection_failure).</summary>
    ConnectFailed,

    /// <summary>No connection to the upstream was made within the connect timeout: 503 (Envoy's connection_timeout).</summary>
    ConnectTimedOut,

    /// <summary>Sending the request failed or the upstream closed, with no answer: 503 (Envoy's connection_termination).</summary>
    RequestFailed,

    /// <summary>The upstream's response was not valid HTTP/1.1: 502.</summary>
    InvalidResponse,

    /// <summary>
    /// The request could not be sent as it stood: a plugin put CR, LF or NUL into a field, or changed the length of a
    /// body streaming under a Content-Length: 500, nothing (more) is sent on that connection.
    /// </summary>
    InvalidRequest,

    /// <summary>
    /// The client's request cannot be forwarded as it came (a control character in a field value): 400, nothing sent,
    /// the detail says why. The client's fault, not the upstream's.
    /// </summary>
    MalformedRequest,

    /// <summary>No progress within the activity timeout: 504 (or a reset once the response started).</summary>
    Timeout,

    /// <summary>The downstream client went away; nothing more to send.</summary>
    ClientAborted,

    /// <summary>The response had started when the upstream failed: the downstream stream was reset.</summary>
    ResponseAborted,
}
