using System.Collections.Concurrent;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>The desired state held in memory, with counters of what was applied.</summary>
internal sealed class InMemoryPluginDistributor : IPluginDistributor
{
    private readonly ConcurrentDictionary<string, DesiredPlugin> _plugins = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _appliesByKey = new(StringComparer.Ordinal);
    private long _applies;
    private long _removes;

    public long Applies => Interlocked.Read(ref _applies);

    public long Removes => Interlocked.Read(ref _removes);

    public IReadOnlyDictionary<string, DesiredPlugin> Snapshot() => new Dictionary<string, DesiredPlugin>(_plugins, StringComparer.Ordinal);

    public DesiredPlugin? Get(string key) => _plugins.GetValueOrDefault(key);

    /// <summary>How often a plugin with <paramref name="key"/> was applied.</summary>
    public int AppliesOf(string key) => _appliesByKey.GetValueOrDefault(key);

    public void Apply(DesiredPlugin plugin)
    {
        _plugins[plugin.Key] = plugin;
        _appliesByKey.AddOrUpdate(plugin.Key, 1, static (_, n) => n + 1);
        Interlocked.Increment(ref _applies);
    }

    public void Remove(string key)
    {
        if (_plugins.TryRemove(key, out _))
        {
            Interlocked.Increment(ref _removes);
        }
    }
}
