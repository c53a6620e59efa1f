using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// Whether the target a client sent can go into an HTTP/1.1 request line. Kestrel's HTTP/2 takes SP, HTAB, the other
/// controls but CR, LF and NUL, DEL and bytes above 0x7F in <c>:path</c>, and leaves the query as it came: written raw,
/// <c>/echo?q HTTP/1.0\tx</c> reached the upstream as a forged request line. Envoy's HTTP/2 codec refuses such a
/// <c>:path</c> (RFC 9113 §8.3.1, RFC 3986); Kestrel's HTTP/1.1 parser refuses all of these but DEL (400).
/// A fragment (<c>/a#frag</c>) is no part of a request target (RFC 9112 §3.2): Kestrel kept the '#' in the path, and
/// the upstream got <c>/a%23frag</c>, another resource than the one plugins saw as <c>/a#frag</c>. Envoy refuses such
/// a request (400) by default since 1.19 (envoy.reloadable_features.http_reject_path_with_fragment).
/// </summary>
internal static class RequestTarget
{
    // Visible ASCII but '#': one vectorized scan of the raw target, no allocation.
    private static readonly SearchValues<char> Sendable = SearchValues.Create(
        string.Concat(Enumerable.Range('!', '~' - '!' + 1).Where(c => c != '#').Select(c => (char)c)));

    /// <summary>
    /// Why the client's target cannot be forwarded: a byte that is not visible ASCII (a space, a control, DEL, anything
    /// above 0x7F), or a fragment; null when it can. The same rule for every client protocol.
    /// </summary>
    public static string? Unsendable(HttpRequest request) =>
        request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget is { } raw ? Unsendable(raw) : null;

    /// <summary>
    /// The authority of an absolute-form target (<c>GET http://example.com:8080/a HTTP/1.0</c>) without its userinfo, the
    /// host such a request names when it has no Host field (RFC 9112 §3.2.2; Envoy's codec takes Host from it); null for
    /// any other target, or an empty authority.
    /// </summary>
    public static string? AbsoluteFormAuthority(HttpRequest request)
    {
        if (request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget is not { } raw)
        {
            return null;
        }

        var scheme = raw.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? 7
            : raw.StartsWith("https://", StringComparison.OrdinalIgnoreCase) ? 8 : 0;
        if (scheme == 0)
        {
            return null;
        }

        var rest = raw.AsSpan(scheme);
        var end = rest.IndexOfAny('/', '?');
        var authority = end < 0 ? rest : rest[..end];
        authority = authority[(authority.LastIndexOf('@') + 1)..];
        return authority.IsEmpty ? null : authority.ToString();
    }

    /// <summary>The same for a target as text (a plugin callout's <c>:path</c>).</summary>
    public static string? Unsendable(string raw)
    {
        var at = raw.AsSpan().IndexOfAnyExcept(Sendable);
        return at < 0 ? null
            : raw[at] == '#' && !raw.AsSpan(at).ContainsAnyExceptInRange('!', '~')
                ? $"request target '{Http1ResponseHead.Printable(raw)}' has a fragment ('{Http1ResponseHead.Printable(raw[at..])}'), which a client keeps to itself (RFC 9112 §3.2): " +
                  "remove it, or percent-encode a '#' that belongs to the path or query as %23"
                : $"request target '{Http1ResponseHead.Printable(raw)}' has a space, a control character or a byte outside ASCII: " +
                  "percent-encode them (RFC 3986)";
    }

    /// <summary>
    /// A path and query a plugin set (<c>:path</c>, already checked to start with '/' and to hold no space or control), as
    /// it goes into the request line: byte for byte, as Envoy sends a filter's <c>:path</c>, but for a '#' and the bytes
    /// above 0x7E, percent-encoded (a '#' would end the target, and a request line is ASCII). Parsed into a
    /// <see cref="PathString"/> and written back, <c>/a/%2e%2e/b</c> went upstream as <c>/a/../b</c>, another resource.
    /// </summary>
    public static string FromPlugin(string path)
    {
        var at = path.AsSpan().IndexOfAnyExcept(Sendable);
        if (at < 0)
        {
            return path;
        }

        var text = new System.Text.StringBuilder(path.Length + 8).Append(path, 0, at);
        foreach (var c in path.AsSpan(at))
        {
            if (Sendable.Contains(c))
            {
                text.Append(c);
            }
            else
            {
                // Header values are Latin-1, one char per byte (HeaderMap): the byte is percent-encoded.
                text.Append('%').Append(((int)c).ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }

    /// <summary>SP, the controls and DEL, which would end or split a request line however they got into a target.</summary>
    public static bool HasSpaceOrControl(string text) => text.AsSpan().ContainsAnyInRange('\0', ' ') || text.Contains('\x7f', StringComparison.Ordinal);
}
