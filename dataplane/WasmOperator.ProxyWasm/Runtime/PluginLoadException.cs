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

    /// <summary>
    /// True when the plugin itself refused its configuration: <c>proxy_validate_configuration</c> or
    /// <c>proxy_on_configure</c> returned false. A caller tells this from every other load failure by this flag,
    /// not by the message, which is for people and may change.
    /// </summary>
    public bool ConfigurationRejected { get; init; }
}
