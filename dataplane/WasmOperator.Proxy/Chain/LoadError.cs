namespace WasmOperator.Proxy.Chain;

/// <summary>A rejected plugin set or a plugin that failed to load, for /config_dump.</summary>
internal sealed record LoadError(DateTimeOffset At, string Source, string Reason);
