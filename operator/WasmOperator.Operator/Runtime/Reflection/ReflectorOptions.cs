namespace WasmOperator.Operator.Runtime.Reflection;

/// <summary>How the reflector lists, watches and reconnects.</summary>
internal sealed record ReflectorOptions
{
    /// <summary>The namespace to watch; null watches all namespaces.</summary>
    public string? Namespace { get; init; }

    /// <summary>Server-side watch timeout; the watch is then resumed from the last resourceVersion.</summary>
    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>First delay before reconnecting after a failure; doubles up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(800);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long without a working list or watch before the reflector reports itself stalled.</summary>
    public TimeSpan StallThreshold { get; init; } = TimeSpan.FromSeconds(30);
}
