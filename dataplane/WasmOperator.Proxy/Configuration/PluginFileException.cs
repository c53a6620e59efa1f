namespace WasmOperator.Proxy.Configuration;

/// <summary>The plugin file (or one of its modules) cannot be used; the message says where and why.</summary>
internal sealed class PluginFileException(string message) : Exception(message);
