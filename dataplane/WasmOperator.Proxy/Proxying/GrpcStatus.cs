using System.Globalization;
using System.Net;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Proxy.Proxying;

/// <summary>gRPC status codes the proxy reports itself, and the status of an upstream's answer.</summary>
internal static class GrpcStatus
{
    public const int Ok = 0;
    public const int Cancelled = 1;
    public const int Unknown = 2;
    public const int DeadlineExceeded = 4;
    public const int ResourceExhausted = 8;
    public const int Internal = 13;
    public const int Unavailable = 14;

    /// <summary>
    /// <c>grpc-status</c>/<c>grpc-message</c> from the trailers, or from the headers of a trailers-only
    /// reply; without them the HTTP status is mapped as the gRPC spec's http-grpc-status-mapping says.
    /// </summary>
    public static (int Status, string Message) From(HttpResponseMessage response, HeaderMap initial, HeaderMap trailing)
    {
        var text = trailing.Get("grpc-status") ?? initial.Get("grpc-status");
        var message = Uri.UnescapeDataString(trailing.Get("grpc-message") ?? initial.Get("grpc-message") ?? "");
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var status))
        {
            return (status, message);
        }

        var mapped = FromHttp((int)response.StatusCode);
        return (mapped, message.Length > 0 ? message : $"upstream answered HTTP {(int)response.StatusCode} without grpc-status");
    }

    /// <summary>
    /// A <c>grpc-message</c> value from the message's UTF-8 bytes, percent-encoded as the gRPC spec says and Envoy does
    /// (<c>PercentEncoding::encode</c>): only bytes outside printable ASCII (0x20-0x7E) and <c>%</c> itself become
    /// <c>%XX</c>, so "not authorized" stays readable to whatever reads the header raw (logs, other plugins, curl).
    /// </summary>
    public static string EncodeMessage(ReadOnlySpan<byte> utf8)
    {
        var encoded = new System.Text.StringBuilder(utf8.Length);
        foreach (var b in utf8)
        {
            if (b is < 0x20 or > 0x7e or (byte)'%')
            {
                encoded.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                encoded.Append((char)b);
            }
        }

        return encoded.ToString();
    }

    /// <summary>The gRPC status for an HTTP status without one (the gRPC spec's http-grpc-status-mapping, as Envoy maps it).</summary>
    public static int FromHttp(int status) => status switch
    {
        200 => Unknown,
        400 => Internal,
        401 => 16,
        403 => 7,
        404 => 12,
        429 or 502 or 503 or 504 => Unavailable,
        _ => Unknown,
    };
}
