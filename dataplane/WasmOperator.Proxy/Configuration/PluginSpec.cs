namespace WasmOperator.Proxy.Configuration;

/// <summary>
/// One plugin as the proxy runs it: the WasmPlugin fields the operator pushes (and the stand-alone
/// YAML file carries), already resolved to a local module.
/// </summary>
internal sealed record PluginSpec
{
    public required string Name { get; init; }

    public string Namespace { get; init; } = "default";

    public required string Url { get; init; }

    public string? Sha256 { get; init; }

    public string PluginName { get; init; } = "";

    /// <summary>VM id (extension): plugins with the same one share data and queues; default: namespace/name.</summary>
    public string? VmId { get; init; }

    /// <summary>Bytes delivered to on_configure (a YAML string verbatim, an object as JSON).</summary>
    public string PluginConfig { get; init; } = "";

    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    public PluginPhase Phase { get; init; } = PluginPhase.UNSPECIFIED_PHASE;

    public int? Priority { get; init; }

    public FailStrategy FailStrategy { get; init; } = FailStrategy.FAIL_CLOSE;

    public PluginMode Mode { get; init; } = PluginMode.ENFORCE;

    public long MaxMemoryBytes { get; init; } = 64L * 1024 * 1024;

    public TimeSpan MaxCallDuration { get; init; } = TimeSpan.FromMilliseconds(100);

    public IReadOnlyList<TrafficSelector> Match { get; init; } = [];

    /// <summary>Creation time (ordering tie-break); unknown sorts as the epoch.</summary>
    public DateTimeOffset CreationTimestamp { get; init; }

    public string Key => $"{Namespace}/{Name}";
}
