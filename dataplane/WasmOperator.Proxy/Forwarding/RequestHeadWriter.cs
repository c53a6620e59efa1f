using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>Serializes the request line and header fields into a pooled buffer (Latin-1, as on the wire).</summary>
internal struct RequestHeadWriter : IDisposable
{
    private byte[] _buffer;
    private int _length;

    public RequestHeadWriter(int capacity)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(capacity);
        _length = 0;
    }

    public readonly ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, _length);

    public void Write(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    public void Write(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        // Kestrel refuses these from clients; a plugin's value with them would split the request head.
        if (text.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            throw new InvalidRequestException($"a request field contains CR, LF or NUL: '{Http1ResponseHead.Escape(text)}'");
        }

        Ensure(text.Length);
        _length += Encoding.Latin1.GetBytes(text, _buffer.AsSpan(_length));
    }

    /// <summary>A UUID in its usual form (36 characters, lower-case hex), as <see cref="Guid.ToString()"/> spells it.</summary>
    public void Write(Guid id)
    {
        Ensure(36);
        id.TryFormat(_buffer.AsSpan(_length), out var written);
        _length += written;
    }

    public void Write(long number)
    {
        Ensure(20);
        number.TryFormat(_buffer.AsSpan(_length), out var written, default, CultureInfo.InvariantCulture);
        _length += written;
    }

    public void Header(string name, string? value)
    {
        // The client's fields were vetted before plugins ran (RequestFields) and the plugins' edits after: a name that is
        // still no token (a plugin's request trailer, say) would be read upstream as another field, or end the head early.
        if (name.Length == 0 || !Http1ResponseHead.IsToken(name))
        {
            throw new InvalidRequestException($"a request field name is not an HTTP token: '{Http1ResponseHead.Printable(name)}'");
        }

        Write(name);
        Write(": "u8);
        Write(value);
        Write("\r\n"u8);
    }

    public void Header(string name, StringValues values)
    {
        foreach (var value in values)
        {
            Header(name, value);
        }
    }

    /// <summary>
    /// The request line and end-to-end header fields of <paramref name="request"/>: Host first, then the
    /// rest in order without hop-by-hop fields (RFC 9110 §7.6.1) and without the body framing, which the
    /// forwarder writes itself. Returns why the client's fields cannot be forwarded (<see cref="RequestFields"/>), null
    /// when they can.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="basePath">The upstream's base path.</param>
    /// <param name="defaultAuthority">Host when the request has none.</param>
    /// <param name="clientFields">
    /// True when the fields are the client's as it sent them (no plugin ran) and no one vetted them yet: each value is
    /// checked for every control character where otherwise only CR, LF and NUL are, in the same one vectorized scan a
    /// value gets anyway, so the request path without plugins pays no pass over the fields of its own.
    /// </param>
    /// <param name="pluginTarget">The path and query plugins set, written as it is; null: the request's own.</param>
    public string? WriteHead(HttpRequest request, string basePath, string defaultAuthority, bool clientFields = false, string? pluginTarget = null)
    {
        Write(request.Method);
        Write(" "u8);
        if (pluginTarget is not null)
        {
            Write(basePath);
            Write(pluginTarget);
        }
        else if (IsAsteriskForm(request))
        {
            // OPTIONS * (RFC 9112 §3.2.4) asks about the server, not a resource: it stays "*", not "/".
            Write("*"u8);
        }
        else
        {
            Write(basePath);
            var path = request.PathBase.Add(request.Path).ToUriComponent();
            Write(path.Length == 0 ? "/" : path);
            // The path is escaped on the way out; the query goes as it came (from the client or a plugin), so it is the one
            // place a space or control could still split the request line if the checks before ever missed one.
            var query = request.QueryString.ToUriComponent();
            if (RequestTarget.HasSpaceOrControl(query))
            {
                throw new InvalidRequestException($"the request query has a space or control character: '{Http1ResponseHead.Printable(query)}'");
            }

            Write(query);
        }

        Write(" HTTP/1.1\r\nHost: "u8);
        // An empty Host the client sent goes as it came, as Envoy forwards it; only a request without one gets the upstream's.
        Write(request.Host.HasValue ? request.Host.Value : request.Headers.Host.Count > 0 ? "" : defaultAuthority);
        Write("\r\n"u8);

        // The fields the client listed in Connection were removed as it arrived (ConnectionListedFields).
        foreach (var (name, values) in request.Headers)
        {
            if (IsHopByHopOrFraming(name) || name.StartsWith(':'))
            {
                // Not forwarded as it came, but the client's all the same: a control character in it is refused as in any
                // other field, as Envoy's codec refuses it, and as the plugins' path does.
                if (clientFields && RequestFields.Unsendable(name, values, "header") is { } why)
                {
                    return why;
                }

                if (name.Equals("TE", StringComparison.OrdinalIgnoreCase) && values.ToString().Contains("trailers", StringComparison.OrdinalIgnoreCase))
                {
                    Header("TE", "trailers");
                }

                continue;
            }

            if (!clientFields)
            {
                Header(name, values);
                continue;
            }

            if (!Http1ResponseHead.IsToken(name))
            {
                // Kestrel's HTTP/1.1 parser takes a name with a control character, a space or a delimiter in it (X\x0bA,
                // "Transfer-Encoding,"): written on, an upstream that trims it reads another field. Envoy's codec refuses it.
                return RequestFields.Unsendable(name, values, "header");
            }

            foreach (var value in values)
            {
                if (value is not null && value.AsSpan().ContainsAny(RequestFields.NotInValue))
                {
                    return RequestFields.ControlInValue("header", name, value);
                }

                WriteVetted(name);
                Write(": "u8);
                WriteVetted(value);
                Write("\r\n"u8);
            }
        }

        if (!request.Headers.ContainsKey(ForwardedProto.Header))
        {
            Write(ForwardedProto.HttpField);
        }

        return null;
    }

    /// <summary>Writes text already known to hold no CR, LF or NUL.</summary>
    private void WriteVetted(string? text)
    {
        if (!string.IsNullOrEmpty(text))
        {
            Ensure(text.Length);
            _length += Encoding.Latin1.GetBytes(text, _buffer.AsSpan(_length));
        }
    }

    /// <summary>Kestrel leaves Path empty for the asterisk form and keeps "*" only in the raw target.</summary>
    public static bool IsAsteriskForm(HttpRequest request) =>
        !request.Path.HasValue && !request.PathBase.HasValue && HttpMethods.IsOptions(request.Method) &&
        request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget == "*";

    private static bool IsHopByHopOrFraming(string name) => name.Length switch
    {
        2 => name.Equals("TE", StringComparison.OrdinalIgnoreCase),
        4 => name.Equals("Host", StringComparison.OrdinalIgnoreCase),
        6 => name.Equals("Expect", StringComparison.OrdinalIgnoreCase),
        7 => name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase),
        10 => name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase),
        14 => name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase),
        16 => name.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase),
        17 => name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    private void Ensure(int more)
    {
        // Latin-1 is one byte a char: a string of n chars needs n bytes.
        if (_length + more <= _buffer.Length)
        {
            return;
        }

        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + more));
        _buffer.AsSpan(0, _length).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }

    public void Dispose()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }
}
