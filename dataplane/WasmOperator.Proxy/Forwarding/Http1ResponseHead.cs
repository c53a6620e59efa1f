using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>How the body of an upstream response is delimited (RFC 9112 §6.3).</summary>
internal enum BodyFraming
{
    None,
    ContentLength,
    Chunked,
    UntilClose,
}

/// <summary>The status line and header fields of an upstream HTTP/1.x response.</summary>
internal sealed class Http1ResponseHead
{
    private static readonly string[] HopByHop = ["Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "TE", "Trailer"];

    /// <summary>
    /// Bytes a field value must not hold (RFC 9110 §5.5: VCHAR, obs-text, SP and HTAB only): the controls, CR, LF and
    /// NUL among them, and DEL. Envoy's codec refuses them too; Kestrel would throw on them while copying the header
    /// (or trailer: <see cref="Http1ResponseBody"/> checks those).
    /// </summary>
    internal static readonly SearchValues<byte> NotInFieldValue = SearchValues.Create(
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127]);

    public int Status { get; private set; }

    /// <summary>End-to-end header fields in arrival order (hop-by-hop ones removed).</summary>
    public List<KeyValuePair<string, string>> Headers { get; } = new(8);

    public long? ContentLength { get; private set; }

    public BodyFraming Framing { get; private set; }

    /// <summary>False when the upstream asked to close, spoke HTTP/1.0 without keep-alive (or with Transfer-Encoding), or framed the body by its close.</summary>
    public bool KeepAlive { get; private set; }

    /// <summary>
    /// Where the response head in <paramref name="buffered"/> ends: the bytes it takes with its empty line, or -1 while
    /// that line has not arrived. <paramref name="length"/> is the head without it, for <see cref="Parse"/>. A bare LF
    /// ends a line as CRLF does (RFC 9112 §2.2 lets a recipient take it; Envoy's and nginx's parsers do), so the head
    /// ends at the first empty line either way: a later CRLFCRLF, in the body, is never taken for its end.
    /// </summary>
    public static int FindEnd(ReadOnlySpan<byte> buffered, out int length)
    {
        // "\n\r\n" ends every head with CRLF line ends, at its true end; only bytes before it can hold an earlier "\n\n".
        var crlf = buffered.IndexOf("\n\r\n"u8);
        var lf = (crlf < 0 ? buffered : buffered[..(crlf + 1)]).IndexOf("\n\n"u8);
        var end = lf >= 0 ? lf : crlf;
        if (end < 0)
        {
            length = 0;
            return -1;
        }

        length = end > 0 && buffered[end - 1] == (byte)'\r' ? end - 1 : end;
        return end + (lf >= 0 ? 2 : 3);
    }

    /// <summary>
    /// Parses one response head (status line through the empty line, exclusive) and decides the body
    /// framing for a request with <paramref name="headRequest"/>. Throws <see cref="UpstreamProtocolException"/>
    /// for anything a proxy must not pass on: a bad status line, obs-fold, a malformed field, a control character in a
    /// value, conflicting lengths, a Content-Length beside Transfer-Encoding.
    /// </summary>
    /// <param name="head">The head's bytes.</param>
    /// <param name="headRequest">The request was a HEAD.</param>
    /// <param name="reuse">A head no one holds any more, filled again instead of a new one (its fields cleared).</param>
    public static Http1ResponseHead Parse(ReadOnlySpan<byte> head, bool headRequest, Http1ResponseHead? reuse = null)
    {
        var result = reuse ?? new Http1ResponseHead();
        result.Headers.Clear();
        result.ContentLength = null;
        var lineEnd = head.IndexOf((byte)'\n');
        var statusLine = WithoutCr(lineEnd < 0 ? head : head[..lineEnd]);
        // HTTP-version SP 3DIGIT SP [reason]; the reason is not relayed, but a control in it (a bare CR) means garbage.
        if (statusLine.Length < 12 || !statusLine.StartsWith("HTTP/1."u8) || statusLine[8] != (byte)' ' ||
            !Utf8Parser.TryParse(statusLine.Slice(9, 3), out int status, out var consumed) || consumed != 3 || status < 100 ||
            (statusLine.Length > 12 && statusLine[12] != (byte)' ') || statusLine.IndexOfAny(NotInFieldValue) >= 0)
        {
            throw new UpstreamProtocolException($"invalid status line '{Printable(statusLine)}'");
        }

        var http10 = statusLine[7] == (byte)'0';
        result.Status = status;
        // The reason phrase is not kept: Kestrel writes its own for the status, as Envoy's codec does.
        var keepAlive = !http10;
        var chunked = false;
        var rest = lineEnd < 0 ? [] : head[(lineEnd + 1)..];
        List<string>? connectionTokens = null;
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf((byte)'\n');
            var line = WithoutCr(end < 0 ? rest : rest[..end]);
            rest = end < 0 ? [] : rest[(end + 1)..];
            if (line.IsEmpty)
            {
                throw new UpstreamProtocolException("empty line inside a response head");
            }

            if (line[0] is (byte)' ' or (byte)'\t')
            {
                throw new UpstreamProtocolException("obsolete line folding in a response header");
            }

            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(line[..colon]))
            {
                throw new UpstreamProtocolException($"malformed response header line '{Printable(line)}'");
            }

            var known = KnownIndex(line[..colon]);
            var name = known >= 0 ? Known[known] : Encoding.ASCII.GetString(line[..colon]);
            var raw = line[(colon + 1)..].Trim(" \t"u8);
            if (raw.IndexOfAny(NotInFieldValue) >= 0)
            {
                throw new UpstreamProtocolException($"invalid character in response header '{name}'");
            }

            if (known == ContentLengthIndex)
            {
                // Digits only (no sign, no space), read from the bytes: no string for the one field every response has.
                if (raw.IsEmpty || raw.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0 ||
                    !Utf8Parser.TryParse(raw, out long length, out var digits) || digits != raw.Length ||
                    (result.ContentLength is { } seen && seen != length))
                {
                    throw new UpstreamProtocolException($"invalid Content-Length '{Printable(raw)}'");
                }

                result.ContentLength = length;
                continue;
            }

            if (known == ConnectionIndex)
            {
                // Read from the bytes: "keep-alive" and "close", on nearly every response, make no string.
                var tokens = raw;
                while (!tokens.IsEmpty)
                {
                    var comma = tokens.IndexOf((byte)',');
                    var token = (comma < 0 ? tokens : tokens[..comma]).Trim(Whitespace);
                    tokens = comma < 0 ? [] : tokens[(comma + 1)..];
                    if (token.IsEmpty)
                    {
                        continue;
                    }

                    if (Ascii.EqualsIgnoreCase(token, "close"u8))
                    {
                        keepAlive = false;
                    }
                    else if (Ascii.EqualsIgnoreCase(token, "keep-alive"u8))
                    {
                        keepAlive |= http10;
                    }
                    else
                    {
                        (connectionTokens ??= []).Add(Encoding.Latin1.GetString(token));
                    }
                }

                continue;
            }

            var value = Repeats(known) ? KnownValue(known, raw) : Encoding.Latin1.GetString(raw);

            if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                // Only "chunked" alone can be relayed: another coding (gzip, chunked) would reach the client
                // decoded of its chunks but still compressed with nothing saying so (Envoy rejects those too).
                if (!value.Trim().Equals("chunked", StringComparison.OrdinalIgnoreCase))
                {
                    throw new UpstreamProtocolException($"unsupported response transfer-coding '{Printable(raw)}'");
                }

                chunked = true;
                continue;
            }

            if (IsHopByHop(name))
            {
                continue;
            }

            result.Headers.Add(new(name, value));
        }

        if (connectionTokens is not null)
        {
            RemoveListed(result.Headers, connectionTokens);
        }

        if (chunked && result.ContentLength is not null)
        {
            // RFC 9112 §6.3: a message with both may be an attempt at smuggling; its framing cannot be trusted, nor the
            // connection after it. nginx and Envoy answer 502 too.
            throw new UpstreamProtocolException("response has both Content-Length and Transfer-Encoding");
        }

        if (chunked && http10)
        {
            // RFC 9112 §6.1: HTTP/1.0 has no Transfer-Encoding, so its framing is faulty: read as sent, then close.
            keepAlive = false;
        }

        if (headRequest || status is < 200 or 204 or 304)
        {
            result.Framing = BodyFraming.None;
        }
        else if (chunked)
        {
            result.Framing = BodyFraming.Chunked;
            result.ContentLength = null;
        }
        else if (result.ContentLength is not null)
        {
            result.Framing = BodyFraming.ContentLength;
        }
        else
        {
            result.Framing = BodyFraming.UntilClose;
            keepAlive = false;
        }

        result.KeepAlive = keepAlive;
        return result;
    }

    /// <summary>The fields a Connection header listed (RFC 9110 §7.6.1); apart from Parse, whose every call would otherwise allocate the lambda's closure.</summary>
    private static void RemoveListed(List<KeyValuePair<string, string>> headers, List<string> listed)
    {
        headers.RemoveAll(h => listed.Exists(t => t.Equals(h.Key, StringComparison.OrdinalIgnoreCase)));
    }

    /// <summary>What string.Split's TrimEntries trims in a Latin-1 field value (char.IsWhiteSpace; other controls are refused before).</summary>
    private static ReadOnlySpan<byte> Whitespace => [(byte)' ', (byte)'\t', 0x85, 0xA0];

    /// <summary>A line without the CR of its CRLF (a CR left anywhere else is a bare CR, refused where it is found).</summary>
    private static ReadOnlySpan<byte> WithoutCr(ReadOnlySpan<byte> line) => line.EndsWith((byte)'\r') ? line[..^1] : line;

    /// <summary>Connection-specific fields (RFC 9110 §7.6.1), Trailer included: they describe this hop, not the message.</summary>
    internal static bool IsHopByHop(string name)
    {
        foreach (var h in HopByHop)
        {
            if (h.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private const string TokenCharacters = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private static readonly SearchValues<byte> TokenBytes = SearchValues.Create(Encoding.ASCII.GetBytes(TokenCharacters));
    private static readonly SearchValues<char> TokenChars = SearchValues.Create(TokenCharacters);

    /// <summary>tchar per RFC 9110 §5.6.2 (true for an empty name: callers check the length where it matters).</summary>
    internal static bool IsToken(ReadOnlySpan<byte> name) => !name.ContainsAnyExcept(TokenBytes);

    /// <summary>tchar per RFC 9110 §5.6.2, for a name as a string (a plugin's).</summary>
    internal static bool IsToken(ReadOnlySpan<char> name) => !name.ContainsAnyExcept(TokenChars);

    /// <summary>A field text for an error message: CR, LF and NUL shown escaped.</summary>
    internal static string Escape(string text) =>
        text.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\0", "\\0", StringComparison.Ordinal);

    // The names nearly every response carries come back as the same string instances: no allocation.
    private static readonly string[] Known =
        ["Content-Length", "Content-Type", "Date", "Server", "Connection", "Transfer-Encoding", "Cache-Control", "ETag", "Last-Modified", "Vary", "Keep-Alive", "Location", "Set-Cookie", "Content-Encoding"];

    private static readonly int ContentLengthIndex = Array.IndexOf(Known, "Content-Length");

    private static readonly int ConnectionIndex = Array.IndexOf(Known, "Connection");

    /// <summary>The index of <paramref name="name"/> in <see cref="Known"/> (any case), or -1.</summary>
    private static int KnownIndex(ReadOnlySpan<byte> name)
    {
        for (var i = 0; i < Known.Length; i++)
        {
            if (name.Length == Known[i].Length && Ascii.EqualsIgnoreCase(name, Known[i]))
            {
                return i;
            }
        }

        return -1;
    }

    // The last value each known field had on this thread, as bytes and as the string made of them: an upstream sends the
    // same Content-Type and Server on every response, and the same Date for a second, so those come back as the same
    // string (as Kestrel reuses request header values). Per thread, so no lock; the event threads parse nearly every head.
    [ThreadStatic]
    private static (byte[] Raw, string Value)[]? _lastValues;

    /// <summary>Known fields whose value an upstream repeats from response to response (not Set-Cookie, ETag, Location...).</summary>
    private static readonly bool[] RepeatedValue = [.. Known.Select(n => n is "Content-Type" or "Date" or "Server" or "Cache-Control" or "Vary" or "Content-Encoding")];

    private static bool Repeats(int known) => known >= 0 && RepeatedValue[known];

    private static string KnownValue(int known, ReadOnlySpan<byte> raw)
    {
        var last = _lastValues ??= new (byte[], string)[Known.Length];
        var (bytes, value) = last[known];
        if (bytes is not null && raw.SequenceEqual(bytes))
        {
            return value;
        }

        value = Encoding.Latin1.GetString(raw);
        if (raw.Length <= 128)
        {
            last[known] = (raw.ToArray(), value);
        }

        return value;
    }

    private static string Printable(ReadOnlySpan<byte> line) => Printable(Encoding.Latin1.GetString(line[..Math.Min(line.Length, 80)]));

    /// <summary>A field text for an error message or a reply: at most 80 characters, control characters shown as '?'.</summary>
    internal static string Printable(string text)
    {
        text = text.Length > 80 ? text[..80] : text;
        return string.Create(text.Length, text, (span, s) =>
        {
            for (var i = 0; i < s.Length; i++)
            {
                span[i] = char.IsControl(s[i]) ? '?' : s[i];
            }
        });
    }
}
