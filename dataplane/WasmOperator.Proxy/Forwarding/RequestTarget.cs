using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// Whether the target a client sent can go into an HTTP/1.1 request line. Kestrel's HTTP/2 takes SP, HTAB, the other
/// controls but CR, LF and NUL, DEL and bytes above 0x7F in <c>:path</c>, and leaves the query as it came: written raw,
/// <c>/echo?q HTTP/1.0\tx</c> reached the upstream as a forged request line. Envoy's HTTP/2 codec refuses such a
/// <c>:path</c> (RFC 9113 §8.3.1, RFC 3986); Kestrel's HTTP/1.1 parser refuses all of these but DEL (400).
/// </summary>
internal static class RequestTarget
{
    /// <summary>
    /// Why the client's target cannot be forwarded: a byte that is not visible ASCII (a space, a control, DEL, anything
    /// above 0x7F); null when it can. The same rule for every client protocol, as Kestrel's HTTP/1.1 parser has it.
    /// </summary>
    public static string? Unsendable(HttpRequest request)
    {
        var raw = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;
        return raw is null || !raw.AsSpan().ContainsAnyExceptInRange('!', '~')
            ? null
            : $"request target '{Http1ResponseHead.Printable(raw)}' has a space, a control character or a byte outside ASCII: " +
              "percent-encode them (RFC 3986)";
    }

    /// <summary>SP, the controls and DEL, which would end or split a request line however they got into a target.</summary>
    public static bool HasSpaceOrControl(string text) => text.AsSpan().ContainsAnyInRange('\0', ' ') || text.Contains('\x7f', StringComparison.Ordinal);
}
