using WasmOperator.ProxyWasm.Plugins;

namespace WasmOperator.Proxy.Chain;

/// <summary>
/// A loaded plugin (its VM shards) and how many sets own it: each chain that runs it, and a candidate set while it
/// is loaded, holds one reference; the last one released disposes the VMs. A plugin a new set keeps is owned by the
/// old chain until that chain's last in-flight request ends, and by the new one; a plugin the new set drops or
/// replaces goes with the old chain.
/// </summary>
internal sealed class LoadedPlugin(ProxyWasmPlugin plugin)
{
    private int _owners = 1;

    public ProxyWasmPlugin Plugin { get; } = plugin;

    public DateTimeOffset LoadedAt { get; } = DateTimeOffset.UtcNow;

    public bool Released => Volatile.Read(ref _owners) == 0;

    /// <summary>Takes a reference for one more set; false if the plugin was already released.</summary>
    public bool TryRetain() => RefCount.TryAdd(ref _owners);

    /// <summary>Drops a set's reference; the last one disposes the VMs.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _owners) == 0)
        {
            Plugin.Dispose();
        }
    }
}
