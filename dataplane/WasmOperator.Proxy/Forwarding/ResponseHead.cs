using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>When the response head goes to the client ahead of its body.</summary>
internal static class ResponseHead
{
    /// <summary>
    /// True for a response streamed to an HTTP/2 (or 3) client without a content-length (a gRPC stream's initial
    /// metadata, say): its head goes as soon as the response-headers phase is done, as Envoy sends it, not with the
    /// first body bytes, which may come much later. A response whose head carries <c>grpc-status</c> is a gRPC
    /// trailers-only answer and ends with that head; HTTP/1.1 responses keep head and first bytes in one write. A
    /// CONNECT (an extended CONNECT carrying a WebSocket, say) is no response stream: YARP completes it itself.
    /// </summary>
    public static bool GoesAhead(HttpContext context) =>
        (HttpProtocol.IsHttp2(context.Request.Protocol) || HttpProtocol.IsHttp3(context.Request.Protocol)) &&
        !HttpMethods.IsConnect(context.Request.Method) && context.Features.Get<IHttpExtendedConnectFeature>() is not { IsExtendedConnect: true } &&
        context.Response.StatusCode >= 200 && context.Response.ContentLength is null && !context.Response.Headers.ContainsKey("grpc-status");
}
