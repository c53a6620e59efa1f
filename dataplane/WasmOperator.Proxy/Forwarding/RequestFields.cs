using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// Whether a client's header or trailer fields can go into an HTTP/1.1 message. HPACK carries any bytes in a name, and
/// Kestrel's HTTP/2 takes names that are no token (RFC 9110 §5.6.2: ':' inside, a space, '(', DEL), and CR or LF in a
/// trailer's value. Written into an HTTP/1.1 head, "x-internal-auth:trusted" is the field x-internal-auth, and
/// "transfer-encoding " frames the body for an upstream that tolerates the space: request smuggling. Envoy's codec
/// refuses such a request as malformed (RFC 9113 §8.2.1). Kestrel refuses the rest itself: upper-case names, CR, LF and
/// NUL in a header's value, unknown pseudo-headers (PROTOCOL_ERROR), and over HTTP/1.1 any name that is no token.
/// The other controls in a value (0x01-0x08, 0x0B-0x1F but HTAB, DEL) Kestrel takes over either protocol, and they
/// reached the upstream as sent; Envoy's codecs refuse them (HeaderUtility::headerValueIsValid, 400
/// http1.invalid_characters), as the proxy refuses them in a response from the upstream (502).
/// </summary>
internal static class RequestFields
{
    /// <summary>The bytes no field value may hold (RFC 9110 §5.5): the controls but HTAB, and DEL.</summary>
    public static readonly SearchValues<char> NotInValue = SearchValues.Create(
        string.Concat(Enumerable.Range(0, 0x20).Where(c => c != '\t').Select(c => (char)c)) + "\x7f");

    /// <summary>Why the client's field <paramref name="name"/> cannot be forwarded with <paramref name="value"/> in it.</summary>
    public static string ControlInValue(string section, string name, string value)
    {
        var at = value.AsSpan().IndexOfAny(NotInValue);
        return $"request {section} field {name} has the control character 0x{(int)value[at]:X2} in its value, which no field " +
               "value may hold (RFC 9110 §5.5): remove it, or encode the value (percent- or base64-encoding)";
    }

    /// <summary>
    /// Why <paramref name="fields"/> (the client's <paramref name="section"/>, "header" or "trailer") cannot be sent over
    /// HTTP/1.1: a name that is no token, a value with a control character. Null when they can. Pseudo-headers are
    /// Kestrel's to vet.
    /// </summary>
    public static string? Unsendable(IHeaderDictionary fields, string section)
    {
        foreach (var (name, values) in fields)
        {
            if (Unsendable(name, values, section) is { } why)
            {
                return why;
            }
        }

        return null;
    }

    /// <summary>Why the one field <paramref name="name"/> with <paramref name="values"/> cannot be sent (<see cref="Unsendable(IHeaderDictionary, string)"/>).</summary>
    public static string? Unsendable(string name, StringValues values, string section)
    {
        if (name.Length == 0 || (name[0] != ':' && !Http1ResponseHead.IsToken(name)))
        {
            return $"request {section} field name '{Http1ResponseHead.Printable(name)}' is not an HTTP token (RFC 9110 §5.6.2) and cannot " +
                   "be forwarded: use letters, digits and !#$%&'*+-.^_`|~ only";
        }

        foreach (var value in values)
        {
            if (value is not null && value.AsSpan().ContainsAny(NotInValue))
            {
                return ControlInValue(section, name, value);
            }
        }

        return null;
    }
}
