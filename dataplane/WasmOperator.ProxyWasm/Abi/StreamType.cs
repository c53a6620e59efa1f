namespace WasmOperator.ProxyWasm.Abi;

/// <summary>Stream directions for continue/close (spec "StreamType").</summary>
public enum StreamType
{
    /// <summary>The HTTP request.</summary>
    HttpRequest = 0,
    /// <summary>The HTTP response.</summary>
    HttpResponse = 1,
    /// <summary>TCP downstream.</summary>
    Downstream = 2,
    /// <summary>TCP upstream.</summary>
    Upstream = 3,
}
