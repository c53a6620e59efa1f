namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// What a response observer (the plugin chain) sees of an upstream response after its status and
/// headers were copied to the downstream response: the body framing and the body itself.
/// </summary>
internal sealed class UpstreamResponse(Http1ResponseHead head, Http1ResponseBody body)
{
    public Http1ResponseHead Head { get; } = head;

    /// <summary>The decoded body; read it to its end (or not at all) — the connection is reused only if it was.</summary>
    public Http1ResponseBody Body { get; } = body;

    /// <summary>Content-Length the upstream declared, if any.</summary>
    public long? ContentLength => Head.ContentLength;

    /// <summary>
    /// False when the head ends the response: no body framing (HEAD, 1xx, 204, 304), or a content-length of 0. Envoy's
    /// codec treats a zero length as no body too (<c>cannotHaveBody</c>): the headers callback gets end_of_stream and no
    /// body callback follows, as on YARP's path.
    /// </summary>
    public bool HasBody => Head.Framing switch
    {
        BodyFraming.None => false,
        BodyFraming.ContentLength => Head.ContentLength is not 0,
        _ => true,
    };
}

/// <summary>The plugin chain as the forwarder sees it: request trailers as plugins left them, and the response hook.</summary>
internal interface IUpstreamResponseObserver
{
    /// <summary>
    /// Request trailers after the plugins' trailer callbacks, copied (a callout's answer may still edit the plugins'
    /// map): none when the request had none.
    /// </summary>
    KeyValuePair<string, string>[] RequestTrailerFields();

    /// <summary>True once a plugin answered or closed the stream: nothing the upstream sends may reach the client then.</summary>
    bool IsStopped { get; }

    /// <summary>The path and query plugins set, as the request line carries it (<see cref="RequestTarget.FromPlugin"/>); null when they left the client's.</summary>
    string? PluginTarget { get; }

    /// <summary>The connection the request goes on (told again when a stale pooled one is replaced): its addresses are the upstream.* properties.</summary>
    void OnUpstreamConnection(Http1Connection connection);

    /// <summary>The request is sent again, on a new connection, after a stale pooled one failed under it: another attempt.</summary>
    void OnRetry();

    /// <summary>
    /// The forwarder is done with the connection of <see cref="OnUpstreamConnection"/> and would pool it: false when the
    /// observer aborted it meanwhile (a plugin stopped the stream from outside a callback), which must not be reused.
    /// </summary>
    bool EndUpstreamConnection();

    /// <summary>
    /// Sees an upstream response before its body is copied; returns false when it wrote the body itself. It may run while
    /// the request body still streams upstream (and through the plugins' request body callbacks): the two directions overlap.
    /// </summary>
    ValueTask<bool> OnResponseAsync(UpstreamResponse response, CancellationToken cancellationToken);
}
