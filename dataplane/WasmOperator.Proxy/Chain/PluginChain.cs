using System.Collections.Concurrent;
using WasmOperator.Proxy.Configuration;

namespace WasmOperator.Proxy.Chain;

/// <summary>
/// An immutable, ordered plugin set. Requests hold a reference while they run; when the chain was replaced and
/// the last request on it finished, it lets go of its plugins (<see cref="LoadedPlugin"/>): the VMs of those the
/// next chain does not run too are released.
/// </summary>
internal sealed class PluginChain
{
    private readonly ConcurrentDictionary<int, ChainEntry[]> _byPort = new();
    private readonly string _trafficMode;
    private int _references = 1;

    public PluginChain(long revision, IReadOnlyList<ChainEntry> entries, string trafficMode)
    {
        Revision = revision;
        Entries = entries;
        _trafficMode = trafficMode;
    }

    public long Revision { get; }

    public IReadOnlyList<ChainEntry> Entries { get; }

    public DateTimeOffset LoadedAt { get; } = DateTimeOffset.UtcNow;

    public int InFlight => Math.Max(0, Volatile.Read(ref _references) - 1);

    public bool Released => Volatile.Read(ref _references) == 0;

    /// <summary>The entries whose <c>match</c> selects traffic on <paramref name="port"/>, in chain order.</summary>
    public ChainEntry[] For(int port)
    {
        if (Entries.Count == 0)
        {
            return [];
        }

        return _byPort.TryGetValue(port, out var cached) ? cached : _byPort.GetOrAdd(port, static (p, chain) => chain.Select(p), this);
    }

    private ChainEntry[] Select(int port)
    {
        var selected = new List<ChainEntry>(Entries.Count);
        foreach (var entry in Entries)
        {
            if (Selects(entry.Spec, port))
            {
                selected.Add(entry);
            }
        }

        return [.. selected];
    }

    private bool Selects(PluginSpec spec, int port)
    {
        if (spec.Match.Count == 0)
        {
            return true;
        }

        foreach (var selector in spec.Match)
        {
            if (selector.Matches(_trafficMode, port))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Takes a reference for one request; false if the chain was already released.</summary>
    public bool TryAcquire() => RefCount.TryAdd(ref _references);

    /// <summary>Drops a reference; the last one (after replacement) lets go of the plugins.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            foreach (var entry in Entries)
            {
                entry.Loaded?.Release();
            }
        }
    }
}
