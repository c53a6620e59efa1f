namespace WasmOperator.ProxyWasm.Abi;

/// <summary>Byte buffers a plugin can address (spec "BufferType").</summary>
public enum BufferType
{
    /// <summary>Request body (so far buffered).</summary>
    RequestBody = 0,
    /// <summary>Response body.</summary>
    ResponseBody = 1,
    /// <summary>TCP downstream data.</summary>
    DownstreamData = 2,
    /// <summary>TCP upstream data.</summary>
    UpstreamData = 3,
    /// <summary>HTTP callout response body.</summary>
    HttpCallResponseBody = 4,
    /// <summary>gRPC callout message.</summary>
    GrpcReceiveBuffer = 5,
    /// <summary>VM configuration (inside <c>on_vm_start</c>).</summary>
    VmConfiguration = 6,
    /// <summary>Plugin configuration (inside <c>on_configure</c>).</summary>
    PluginConfiguration = 7,
    /// <summary>Foreign function arguments.</summary>
    ForeignFunctionArguments = 8,
}
