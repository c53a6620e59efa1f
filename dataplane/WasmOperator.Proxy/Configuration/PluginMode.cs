namespace WasmOperator.Proxy.Configuration;

#pragma warning disable CA1707 // Enum names are the API's wire values.
/// <summary>ENFORCE applies what the plugin decides; LOG_ONLY only logs and counts it.</summary>
internal enum PluginMode
{
    ENFORCE,
    LOG_ONLY,
}
#pragma warning restore CA1707
