using Microsoft.AspNetCore.Http;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// The one request transfer-coding the proxy can relay: <c>chunked</c> alone. Kestrel refuses a list that does not
/// end in chunked (400) but takes <c>gzip, chunked</c> and the like, decodes the chunks and leaves the rest: the body
/// would go upstream still compressed with nothing saying so. As Envoy's and nginx's codecs do, such a request gets
/// 501 (RFC 9112 §6.1) before plugins or an upstream see it, and its connection is closed.
/// </summary>
internal static class RequestTransferCoding
{
    private static readonly byte[] Refusal = "Transfer-Encoding other than 'chunked' is not supported: send the body chunked or with a Content-Length"u8.ToArray();

    /// <summary>True when the request has a Transfer-Encoding that is not exactly one <c>chunked</c>.</summary>
    public static bool IsUnsupported(HttpRequest request)
    {
        var codings = request.Headers.TransferEncoding;
        return codings.Count != 0 && !(codings.Count == 1 && codings[0].AsSpan().Trim(" \t").Equals("chunked", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Answers 501 and closes the connection: the body's end cannot be trusted to be where Kestrel found it.</summary>
    public static Task RefuseAsync(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status501NotImplemented;
        response.Headers.Connection = "close";
        response.ContentType = "text/plain";
        response.ContentLength = Refusal.Length;
        return response.Body.WriteAsync(Refusal, context.RequestAborted).AsTask();
    }
}
