using Microsoft.AspNetCore.Http;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// Whether a client's header or trailer fields can go into an HTTP/1.1 message. HPACK carries any bytes in a name, and
/// Kestrel's HTTP/2 takes names that are no token (RFC 9110 §5.6.2: ':' inside, a space, '(', DEL), and CR or LF in a
/// trailer's value. Written into an HTTP/1.1 head, "x-internal-auth:trusted" is the field x-internal-auth, and
/// "transfer-encoding " frames the body for an upstream that tolerates the space: request smuggling. Envoy's codec
/// refuses such a request as malformed (RFC 9113 §8.2.1). Kestrel refuses the rest itself: upper-case names, CR, LF and
/// NUL in a header's value, unknown pseudo-headers (PROTOCOL_ERROR), and over HTTP/1.1 any name that is no token.
/// </summary>
internal static class RequestFields
{
    /// <summary>
    /// Why <paramref name="fields"/> (the client's <paramref name="section"/>, "header" or "trailer") cannot be sent over
    /// HTTP/1.1: a name that is no token, a value with CR, LF or NUL. Null when they can. Pseudo-headers are Kestrel's to vet.
    /// </summary>
    public static string? Unsendable(IHeaderDictionary fields, string section)
    {
        foreach (var (name, values) in fields)
        {
            if (name.Length == 0 || (name[0] != ':' && !Http1ResponseHead.IsToken(name)))
            {
                return $"request {section} field name '{Http1ResponseHead.Printable(name)}' is not an HTTP token (RFC 9110 §5.6.2) and cannot " +
                       "be forwarded: use letters, digits and !#$%&'*+-.^_`|~ only";
            }

            foreach (var value in values)
            {
                if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
                {
                    return $"request {section} field {name} has CR, LF or NUL in its value and cannot be forwarded";
                }
            }
        }

        return null;
    }
}
