using System.Text;
using Microsoft.AspNetCore.Http;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// The one request transfer-coding the proxy can relay: <c>chunked</c> alone, and never beside a Content-Length.
/// Kestrel refuses a list that does not end in chunked (400) but takes <c>gzip, chunked</c> and the like, decodes the
/// chunks and leaves the rest: the body would go upstream still compressed with nothing saying so. As Envoy's and
/// nginx's codecs do, such a request gets 501 (RFC 9112 §6.1), <c>chunked, chunked</c> (or chunked sent twice) too,
/// which Envoy answers alike (501 http1.invalid_transfer_encoding). A request with both Transfer-Encoding and
/// Content-Length (RFC 9112 §6.3: a smuggling attempt, to be handled as an error) Kestrel read chunked, moving the
/// Content-Length into an <c>X-Content-Length</c> field of its own making that went upstream; Envoy and nginx answer
/// 400 (http1.content_length_and_chunked_not_allowed). Either way neither plugins nor an upstream see the request,
/// and its connection is closed.
/// </summary>
internal static class RequestTransferCoding
{
    /// <summary>The field Kestrel moves a Content-Length into when the request also has a Transfer-Encoding.</summary>
    private const string MovedContentLength = "X-Content-Length";

    /// <summary>
    /// True when the request has a Transfer-Encoding that is not exactly one <c>chunked</c>, or one beside a Content-Length.
    /// A request without Transfer-Encoding (nearly every one) costs one header lookup.
    /// </summary>
    public static bool IsUnsupported(HttpRequest request)
    {
        var codings = request.Headers.TransferEncoding;
        return codings.Count != 0 &&
               (!(codings.Count == 1 && codings[0].AsSpan().Trim(" \t").Equals("chunked", StringComparison.OrdinalIgnoreCase)) ||
                request.Headers.ContainsKey(MovedContentLength));
    }

    /// <summary>
    /// Answers 400 (with a Content-Length) or 501 (another coding) and closes the connection: the body's end cannot be
    /// trusted to be where Kestrel found it.
    /// </summary>
    public static Task RefuseAsync(HttpContext context)
    {
        var request = context.Request;
        var codings = Http1ResponseHead.Printable(string.Join(", ", request.Headers.TransferEncoding.ToArray()));
        var (status, text) = request.Headers.ContainsKey(MovedContentLength)
            // Kestrel made the field only if the client sent none itself (a client's own X-Content-Length with a
            // Transfer-Encoding is refused too: rare enough, and the framing is still ambiguous to whoever reads it).
            ? (StatusCodes.Status400BadRequest,
               $"the request has both Content-Length and Transfer-Encoding '{codings}', which frame its body differently " +
               "(RFC 9112 §6.3): send one of them")
            : ChunkedCount(codings) > 1
                ? (StatusCodes.Status501NotImplemented,
                   $"Transfer-Encoding '{codings}' applies chunked more than once (RFC 9112 §6.1): send 'Transfer-Encoding: chunked' once")
                : (StatusCodes.Status501NotImplemented,
                   $"Transfer-Encoding '{codings}' is not supported, only 'chunked' alone is: send the body chunked or with a Content-Length");
        var body = Encoding.UTF8.GetBytes(text);
        var response = context.Response;
        response.StatusCode = status;
        response.Headers.Connection = "close";
        response.ContentType = "text/plain";
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    private static int ChunkedCount(string codings) =>
        codings.Split(',', StringSplitOptions.TrimEntries).Count(c => c.Equals("chunked", StringComparison.OrdinalIgnoreCase));
}
