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

    /// <summary>
    /// Why this plugin never runs in a proxy serving <paramref name="trafficMode"/> traffic, or null: its match[] names
    /// only the other side (a CLIENT plugin in this SERVER-side proxy). It still loads, as Istio would load it elsewhere.
    /// </summary>
    public string? UnmatchedTrafficMode(string trafficMode)
    {
        if (Match.Count == 0)
        {
            return null;
        }

        foreach (var selector in Match)
        {
            if (selector.MatchesMode(trafficMode))
            {
                return null;
            }
        }

        var other = trafficMode == "SERVER" ? "CLIENT" : "SERVER";
        return $"plugin {Key} matches only {other} ({Side(other)}) traffic and this proxy serves {trafficMode} ({Side(trafficMode)}) traffic, " +
               $"so it never runs here; to run it, add mode: {trafficMode} (or CLIENT_AND_SERVER) to its match";
    }

    private static string Side(string trafficMode) => trafficMode == "CLIENT" ? "outbound" : "inbound";
}
