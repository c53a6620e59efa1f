namespace WasmOperator.Proxy.Chain;

/// <summary>
/// A rejected plugin set or a plugin that failed to load, for /config_dump. <see cref="Superseded"/>: a set was
/// applied since, so the error no longer describes what serves.
/// </summary>
internal sealed record LoadError(DateTimeOffset At, string Source, string Reason, bool Superseded = false);
