namespace WasmOperator.ProxyWasm.Abi;

/// <summary>HTTP stream callbacks, dispatched without per-call delegates.</summary>
internal enum StreamCallback
{
    RequestHeaders,
    RequestBody,
    RequestTrailers,
    ResponseHeaders,
    ResponseBody,
    ResponseTrailers,
}
