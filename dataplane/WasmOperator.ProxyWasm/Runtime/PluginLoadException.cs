namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>A module or plugin could not be loaded: invalid Wasm, unknown ABI, failed init, start or configure.</summary>
public sealed class PluginLoadException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PluginLoadException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public PluginLoadException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Creates the exception.</summary>
    public PluginLoadException() { }
}
