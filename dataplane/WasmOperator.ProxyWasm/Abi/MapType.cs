namespace WasmOperator.ProxyWasm.Abi;

/// <summary>Header maps a plugin can address (spec "MapType").</summary>
public enum MapType
{
    /// <summary>Request headers, starting with the pseudo-headers.</summary>
    RequestHeaders = 0,
    /// <summary>Request trailers.</summary>
    RequestTrailers = 1,
    /// <summary>Response headers, starting with <c>:status</c>.</summary>
    ResponseHeaders = 2,
    /// <summary>Response trailers.</summary>
    ResponseTrailers = 3,
    /// <summary>gRPC callout initial metadata.</summary>
    GrpcInitialMetadata = 4,
    /// <summary>gRPC callout trailing metadata.</summary>
    GrpcTrailingMetadata = 5,
    /// <summary>HTTP callout response headers (inside <c>on_http_call_response</c>).</summary>
    HttpCallResponseHeaders = 6,
    /// <summary>HTTP callout response trailers.</summary>
    HttpCallResponseTrailers = 7,
}
