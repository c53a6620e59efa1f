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
