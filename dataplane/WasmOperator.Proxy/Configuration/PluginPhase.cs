namespace WasmOperator.Proxy.Configuration;

#pragma warning disable CA1707 // Enum names are the API's wire values.
/// <summary>Chain position (wasmplugin-api.md): AUTHN, AUTHZ, STATS, then UNSPECIFIED just before forwarding.</summary>
internal enum PluginPhase
{
    AUTHN = 0,
    AUTHZ = 1,
    STATS = 2,
    UNSPECIFIED_PHASE = 3,
}
#pragma warning restore CA1707
