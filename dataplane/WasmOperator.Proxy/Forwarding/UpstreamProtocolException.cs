namespace WasmOperator.Proxy.Forwarding;

/// <summary>The upstream sent something that is not a valid HTTP/1.1 response; the request gets a 502.</summary>
internal sealed class UpstreamProtocolException(string message) : Exception(message);

/// <summary>The request as the plugins left it cannot go on the wire (a field with CR/LF/NUL, a body that changed length).</summary>
internal sealed class InvalidRequestException(string message) : IOException(message);
