namespace WasmOperator.Proxy.Forwarding;

/// <summary>The upstream sent something that is not a valid HTTP/1.1 response; the request gets a 502.</summary>
internal sealed class UpstreamProtocolException(string message) : Exception(message);
