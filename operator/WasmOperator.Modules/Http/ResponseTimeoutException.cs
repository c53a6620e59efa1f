namespace WasmOperator.Modules.Http;

/// <summary>A server stalled a request (no response head, or a pause in the body); an IOException so it is retried as a transport error.</summary>
internal sealed class ResponseTimeoutException(string message, Exception? inner = null) : IOException(message, inner);
