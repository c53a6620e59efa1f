using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// Replies the proxy sends itself (a plugin's local response, fail-closed, limits, upstream errors), shaped
/// as Envoy shapes them (Http::Utility::prepareLocalReply): what the client speaks decides, not the reply. A gRPC
/// request gets a trailers-only gRPC reply (HTTP 200, <c>grpc-status</c> given or mapped from the HTTP status, the
/// body as <c>grpc-message</c>); any other request gets the HTTP status and body, <c>text/plain</c> if the body has
/// no content type. Every header the plugin gave is kept, each value of a repeated one too (Envoy adds them with
/// addCopy), except those the proxy sets itself (<see cref="SetByProxy"/>).
/// </summary>
internal static class LocalReply
{
    /// <summary>
    /// Native gRPC, as Envoy tells it: <c>application/grpc</c>, alone or followed by <c>+</c> (a codec) or <c>;</c>
    /// (parameters). gRPC-Web (<c>application/grpc-web*</c>) is plain HTTP to a proxy without a gRPC-Web bridge.
    /// </summary>
    public static bool IsGrpc(HttpRequest request) =>
        request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.Ordinal) && (type.Length == 16 || type[16] is '+' or ';');

    /// <summary>The reply's response header map (<c>:status</c> first, with <c>content-length</c>) and body.</summary>
    public static (HeaderMap Headers, byte[] Body) Build(HttpRequest request, LocalResponse reply)
    {
        var headers = new HeaderMap(reply.Headers.Count + 5);
        var grpc = IsGrpc(request);
        byte[] body;
        var pluginGrpcStatus = grpc && HasValue(reply.Headers, "grpc-status");
        if (grpc)
        {
            headers.Add(":status", "200");
            headers.Add("content-type", "application/grpc");
            if (!pluginGrpcStatus)
            {
                headers.Add("grpc-status", (reply.GrpcStatus ?? GrpcStatus.FromHttp(reply.StatusCode)).ToString(CultureInfo.InvariantCulture));
            }

            if (reply.Body.Length > 0)
            {
                headers.Add("grpc-message", GrpcStatus.EncodeMessage(reply.Body));
            }

            body = [];
        }
        else
        {
            headers.Add(":status", reply.StatusCode.ToString(CultureInfo.InvariantCulture));
            // 1xx, 204 and 304 have no content (RFC 9110 §6.4.1): a body the plugin gave them is dropped, as Envoy does.
            body = HasNoContent(reply.StatusCode) ? [] : reply.Body;
        }

        foreach (var (name, value) in reply.Headers.Entries)
        {
            if (!SetByProxy(name, grpc, pluginGrpcStatus, reply.Body.Length > 0, body.Length > 0))
            {
                headers.Add(name, value);
            }
        }

        if (body.Length > 0 && headers.Get("content-type") is null)
        {
            headers.Add("content-type", "text/plain");
        }

        if (grpc || !HasNoContent(reply.StatusCode))
        {
            headers.Add("content-length", body.Length.ToString(CultureInfo.InvariantCulture));
        }

        return (headers, body);
    }

    /// <summary>Writes a reply built by <see cref="Build"/> (as plugins may have changed it) in place of anything set so far.</summary>
    public static async Task WriteAsync(HttpContext context, HeaderMap headers, byte[] body)
    {
        var response = context.Response;
        response.Clear();
        foreach (var (name, value) in headers.Entries)
        {
            if (name == ":status")
            {
                if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var status) && status is >= 100 and <= 999)
                {
                    response.StatusCode = status;
                }
            }
            else if (!name.StartsWith(':') && name is not "content-length" and not "transfer-encoding")
            {
                response.Headers.Append(name, value);
            }
        }

        if (HasNoContent(response.StatusCode))
        {
            // Kestrel refuses a length on a 204 (and a plugin may have set the status on the way out).
            return;
        }

        response.ContentLength = body.Length;
        if (body.Length > 0 && !HttpMethods.IsHead(context.Request.Method))
        {
            await response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static bool HasNoContent(int status) => status is < 200 or 204 or 304;

    /// <summary>
    /// A header of the plugin's the proxy sets itself, as Envoy's prepareLocalReply does after adding the plugin's:
    /// pseudo-headers, the framing (content-length, transfer-encoding), for gRPC the content type, the grpc-status
    /// unless the plugin gave one, and the grpc-message when the body becomes it; for HTTP a content type on a reply
    /// left without a body (Envoy removes it).
    /// </summary>
    private static bool SetByProxy(string name, bool grpc, bool pluginGrpcStatus, bool message, bool hasBody) =>
        name.StartsWith(':') || name is "content-length" or "transfer-encoding" || (grpc
            ? name == "content-type" || (name == "grpc-status" && !pluginGrpcStatus) || (name == "grpc-message" && message)
            : name == "content-type" && !hasBody);

    private static bool HasValue(HeaderMap map, string name)
    {
        foreach (var (key, value) in map.Entries)
        {
            if (key == name && value.Length > 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The reply for a forwarding failure before any of the response went out: Envoy router's status, text
    /// and response code details (its reset reasons, without the transport detail it appends).
    /// </summary>
    public static LocalResponse? ForUpstreamFailure(Forwarding.ForwardResult result) => result switch
    {
        Forwarding.ForwardResult.ConnectFailed => Upstream(503, "remote_connection_failure"),
        Forwarding.ForwardResult.ConnectTimedOut => Upstream(503, "connection_timeout"),
        Forwarding.ForwardResult.RequestFailed => Upstream(503, "connection_termination"),
        Forwarding.ForwardResult.InvalidResponse => Upstream(502, "protocol_error"),
        Forwarding.ForwardResult.Timeout => new LocalResponse(504, "upstream_response_timeout", "upstream request timeout"u8.ToArray(), new HeaderMap(), null),
        Forwarding.ForwardResult.InvalidRequest => InvalidRequestFromPlugins(),
        _ => null,
    };

    /// <summary>
    /// The reply when plugins rerouted a request to a port whose own plugins did not run on it
    /// (<c>wasm_reroute_skips_plugins</c>): 500, nothing sent upstream.
    /// </summary>
    public static LocalResponse ReroutedPastPlugins() =>
        new(500, "wasm_reroute_skips_plugins", "the request was rerouted past plugins that did not run on it"u8.ToArray(), new HeaderMap(), null);

    /// <summary>
    /// The reply to a request a client sent malformed (<paramref name="reason"/> says how), refused before plugins run: 400,
    /// with the details Envoy's codec for the client's protocol gives.
    /// </summary>
    public static LocalResponse MalformedRequest(HttpRequest request, string reason) => new(
        400,
        HttpProtocol.IsHttp2(request.Protocol) ? "http2.invalid.header.field" : "http1.codec_error",
        Encoding.UTF8.GetBytes(reason),
        new HeaderMap(),
        null);

    /// <summary>
    /// The reply to a request that names no host (no Host field, no <c>:authority</c>), refused before plugins run: 400, as
    /// Envoy's connection manager answers it (missing_host_header; Envoy's <c>default_host_for_http_10</c> has no equivalent here).
    /// </summary>
    public static LocalResponse MissingHost() => new(
        400,
        "missing_host_header",
        "the request names no host: send a Host header (HTTP/1.0 too) or, over HTTP/2, :authority"u8.ToArray(),
        new HeaderMap(),
        null);

    /// <summary>
    /// The reply to an HTTP/1.1 upgrade to other than a WebSocket (<paramref name="upgrade"/>, the client's Upgrade value):
    /// 403 and the connection closed, as Envoy answers an upgrade its route does not enable (upgrade_failed).
    /// </summary>
    public static LocalResponse UpgradeFailed(string upgrade)
    {
        var headers = new HeaderMap();
        headers.Add("connection", "close");
        return new LocalResponse(
            403,
            "upgrade_failed",
            Encoding.UTF8.GetBytes($"upgrade '{upgrade}' is not supported here: only websocket upgrades are (send the request without Connection: upgrade to have it served as plain HTTP)"),
            headers,
            null);
    }

    /// <summary>The reply when the request as the plugins left it cannot be sent (an invalid field, path or method): 500.</summary>
    public static LocalResponse InvalidRequestFromPlugins() =>
        new(500, "invalid_request_from_plugins", "the request as plugins left it cannot be sent"u8.ToArray(), new HeaderMap(), null);

    /// <summary>
    /// The reply when the response as plugins left it cannot be sent (a field name that is no token, a value with a control
    /// character, a body that no longer fits its content-length): 500, as for a request (<see cref="InvalidRequestFromPlugins"/>).
    /// </summary>
    public static LocalResponse InvalidResponseFromPlugins() =>
        new(500, "invalid_response_from_plugins", "the response as plugins left it cannot be sent"u8.ToArray(), new HeaderMap(), null);

    /// <summary>
    /// Envoy's reply when filters removed <c>:status</c> or left it no number (its filter manager's
    /// checkRequiredResponseHeaders, details with spaces made underscores): 502.
    /// </summary>
    public static LocalResponse MissingResponseStatus() =>
        new(502, "filter_removed_required_response_headers{missing_required_header:_:status}", "missing required header: :status"u8.ToArray(), new HeaderMap(), null);

    /// <summary>
    /// Envoy's reply when a stream went idle for the stream idle timeout before its response started: 408 while the
    /// client is still sending its request, 504 once it sent all of it (Envoy's maybeRequestTimeoutCode); "stream timeout",
    /// details <c>stream_idle_timeout</c>. A gRPC client gets it trailers-only: grpc-status 2 (Unknown) for 408, 14
    /// (Unavailable) for 504, as Envoy maps them.
    /// </summary>
    public static LocalResponse ForStreamIdleTimeout(bool requestComplete) =>
        new(requestComplete ? 504 : 408, "stream_idle_timeout", "stream timeout"u8.ToArray(), new HeaderMap(), null);

    /// <summary>Envoy router's text for a request reset before the response headers (the callouts' replies use it too).</summary>
    public static string ResetBeforeHeadersText(string reason, string? transportFailure = null) =>
        "upstream connect error or disconnect/reset before headers. reset reason: " + reason +
        (string.IsNullOrEmpty(transportFailure) ? "" : ", transport failure reason: " + transportFailure);

    private static LocalResponse Upstream(int status, string reason) => new(
        status,
        $"upstream_reset_before_response_started{{{reason}}}",
        Encoding.UTF8.GetBytes(ResetBeforeHeadersText(reason.Replace('_', ' '))),
        new HeaderMap(),
        null);
}
