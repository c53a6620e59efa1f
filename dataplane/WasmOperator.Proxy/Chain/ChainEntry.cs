using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Metrics;
using WasmOperator.ProxyWasm.Plugins;

namespace WasmOperator.Proxy.Chain;

/// <summary>One plugin of a chain: loaded (<see cref="Plugin"/>) or failed to load (<see cref="LoadError"/>).</summary>
internal sealed class ChainEntry(PluginSpec spec, string revision, LoadedPlugin? loaded, string? loadError, PluginMetrics metrics, bool reused = false)
{
    public PluginSpec Spec { get; } = spec;

    /// <summary>What the plugin's VMs are built from (module digest and every plugin option), hashed; empty if the module did not compile.</summary>
    public string Revision { get; } = revision;

    /// <summary>The VMs and the sets that own them; the chain holding this entry owns one reference.</summary>
    public LoadedPlugin? Loaded { get; } = loaded;

    public ProxyWasmPlugin? Plugin { get; } = loaded?.Plugin;

    public string? LoadError { get; } = loadError;

    /// <summary>The plugin was loaded by an earlier set and kept, VMs and state, by this one.</summary>
    public bool Reused { get; } = reused;

    public PluginMetrics Metrics { get; } = metrics;

    /// <summary>The log of the requests this plugin refuses or skips while it has no VM to run them on: one line a second.</summary>
    public LogThrottle UnavailableLog { get; } = new(TimeSpan.FromSeconds(1));

    public bool LogOnly => Spec.Mode == PluginMode.LOG_ONLY;
}
