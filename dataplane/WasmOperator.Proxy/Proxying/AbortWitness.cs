using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// Tells, after YARP forwarded a request without plugins, whether the client had gone before the proxy ended the
/// client's stream itself. YARP aborts the client's connection (HTTP/1.1) or resets its stream (HTTP/2) when a response
/// body copy fails once the response started, and Kestrel cancels <see cref="HttpContext.RequestAborted"/> for that later,
/// on a thread-pool thread. Read after the forwarding, RequestAborted is sometimes already cancelled by the proxy's own
/// abort, so a response body the stream idle timeout ended read as the client's reset (DC), now and then, under load.
/// This feature stands in for the request's lifetime (and reset) feature and notes, at the proxy's own abort, whether
/// the client had already gone.
/// </summary>
internal sealed class AbortWitness : IHttpRequestLifetimeFeature, IHttpResetFeature
{
    private const int Http2InternalError = 0x2, Http2Cancel = 0x8;
    private readonly IHttpRequestLifetimeFeature _lifetime;
    private readonly IHttpResetFeature? _reset;
    private bool _abortedHere;
    private bool _clientGoneThen;

    private AbortWitness(IHttpRequestLifetimeFeature lifetime, IHttpResetFeature? reset)
    {
        _lifetime = lifetime;
        _reset = reset;
    }

    /// <summary>Stands in for <paramref name="context"/>'s lifetime and reset features; null when it has no lifetime feature.</summary>
    public static AbortWitness? Watch(HttpContext context)
    {
        var features = context.Features;
        if (features.Get<IHttpRequestLifetimeFeature>() is not { } lifetime)
        {
            return null;
        }

        var witness = new AbortWitness(lifetime, features.Get<IHttpResetFeature>());
        features.Set<IHttpRequestLifetimeFeature>(witness);
        if (witness._reset is not null)
        {
            // HTTP/1.1 has no reset feature, and YARP aborts the connection when it finds none: none is added.
            features.Set<IHttpResetFeature>(witness);
        }

        return witness;
    }

    /// <summary>
    /// Whether the client had gone (RequestAborted cancelled) when the proxy first aborted or reset its stream, or, if the
    /// proxy did neither, whether it has gone now.
    /// </summary>
    public bool ClientGone => _abortedHere ? _clientGoneThen : _lifetime.RequestAborted.IsCancellationRequested;

    public CancellationToken RequestAborted
    {
        get => _lifetime.RequestAborted;
        set => _lifetime.RequestAborted = value;
    }

    public void Abort()
    {
        Note();
        _lifetime.Abort();
    }

    /// <summary>
    /// Resets the client's stream. YARP resets with CANCEL whenever its forwarding was cancelled or failed by cancellation
    /// (the upstream's reset, the proxy's own timers); to a client still there that is no cancel of its own, and gRPC
    /// clients would report CANCELLED: INTERNAL_ERROR instead, as the plugin path resets (Envoy's NO_ERROR maps to
    /// INTERNAL for gRPC as well).
    /// </summary>
    public void Reset(int errorCode)
    {
        Note();
        _reset!.Reset(errorCode == Http2Cancel && !_clientGoneThen ? Http2InternalError : errorCode);
    }

    private void Note()
    {
        if (!_abortedHere)
        {
            _clientGoneThen = _lifetime.RequestAborted.IsCancellationRequested;
            _abortedHere = true;
        }
    }
}
