using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// The fields a client names in its Connection header are hop-by-hop (RFC 9110 §7.6.1): they are removed as the
/// request arrives, before the request id, x-forwarded-proto or any plugin touches the headers. Removing them on the
/// way out instead let a client strip what plugins and the proxy add (<c>Connection: x-request-id</c>). Kestrel keeps
/// only the option when the header also says keep-alive or close; the names listed beside it are then not known here,
/// and those fields pass, as they always do through Envoy and nginx.
/// </summary>
internal static class ConnectionListedFields
{
    /// <summary>Removes the fields listed in Connection; the framing and hop-by-hop fields the server handles itself stay.</summary>
    public static void Remove(IHeaderDictionary headers)
    {
        var connection = headers.Connection;
        if (StringValues.IsNullOrEmpty(connection) || (connection.Count == 1 && IsKeptByServer(connection[0]!)))
        {
            // No header, or the usual lone "keep-alive"/"close": nothing to split or remove.
            return;
        }

        foreach (var value in connection)
        {
            foreach (var token in (value ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (!IsKeptByServer(token))
                {
                    headers.Remove(token);
                }
            }
        }
    }

    // Connection options and fields the server itself reads or rewrites (framing, Host, the upgrade, TE: trailers).
    private static bool IsKeptByServer(string token) =>
        token.Equals("keep-alive", StringComparison.OrdinalIgnoreCase) || token.Equals("close", StringComparison.OrdinalIgnoreCase) ||
        token.Equals("Upgrade", StringComparison.OrdinalIgnoreCase) || token.Equals("TE", StringComparison.OrdinalIgnoreCase) ||
        token.Equals("Host", StringComparison.OrdinalIgnoreCase) || token.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) ||
        token.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) || token.Equals("Connection", StringComparison.OrdinalIgnoreCase);
}
