namespace WasmOperator.ProxyWasm.Abi;

/// <summary>Plugin log levels (spec "LogLevel").</summary>
public enum ProxyLogLevel
{
    /// <summary>Trace.</summary>
    Trace = 0,
    /// <summary>Debug.</summary>
    Debug = 1,
    /// <summary>Info; WASI stdout is logged here.</summary>
    Info = 2,
    /// <summary>Warning.</summary>
    Warn = 3,
    /// <summary>Error; WASI stderr is logged here.</summary>
    Error = 4,
    /// <summary>Critical.</summary>
    Critical = 5,
}
