namespace WasmOperator.Proxy.Configuration;

#pragma warning disable CA1707 // Enum names are the API's wire values.
/// <summary>What the proxy does when a plugin cannot run (wasmplugin-api.md table).</summary>
internal enum FailStrategy
{
    FAIL_CLOSE,
    FAIL_OPEN,
    FAIL_RELOAD,
}
#pragma warning restore CA1707
