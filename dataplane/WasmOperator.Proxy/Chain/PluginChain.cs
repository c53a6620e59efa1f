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
    // Requests holding the chain, counted on striped cells (a request takes and drops its reference on its processor's); the
    // manager's own reference is _retired, set when it lets go. Once retired, the sum only falls: a request that came
    // too late sees _retired after counting itself and takes itself off again (on the same cell), so no new request
    // runs on the chain; whoever brings the sum to zero after retirement lets go of the plugins, once (_released).
    private readonly Metrics.StripedCounter _requests = new();
    private int _retired;
    private int _released;

    public PluginChain(long revision, IReadOnlyList<ChainEntry> entries, string trafficMode)
    {
        Revision = revision;
        Entries = entries;
        _trafficMode = trafficMode;
    }

    public long Revision { get; }

    public IReadOnlyList<ChainEntry> Entries { get; }

    public DateTimeOffset LoadedAt { get; } = DateTimeOffset.UtcNow;

    public int InFlight => (int)Math.Max(0, _requests.Sum());

    public bool Released => Volatile.Read(ref _released) != 0;

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

    /// <summary>Takes a reference for one request; false if the chain was already replaced (<see cref="Retire"/>).</summary>
    public bool TryAcquire()
    {
        // The count goes up before _retired is read, and Retire sets _retired before it sums (both full fences): either
        // Retire's sum sees this request, or this request sees _retired and leaves.
        var cell = _requests.Increment();
        if (Volatile.Read(ref _retired) == 0)
        {
            return true;
        }

        _requests.Decrement(cell);
        LetGoIfUnused();
        return false;
    }

    /// <summary>Drops one request's reference; the last one after <see cref="Retire"/> lets go of the plugins.</summary>
    public void Release()
    {
        _requests.Decrement();
        if (Volatile.Read(ref _retired) != 0)
        {
            LetGoIfUnused();
        }
    }

    /// <summary>The manager's reference: the chain was replaced (or the proxy stops); it lets go once no request holds it.</summary>
    public void Retire()
    {
        if (Interlocked.Exchange(ref _retired, 1) == 0)
        {
            LetGoIfUnused();
        }
    }

    private void LetGoIfUnused()
    {
        if (_requests.Sum() == 0 && Interlocked.Exchange(ref _released, 1) == 0)
        {
            foreach (var entry in Entries)
            {
                entry.Loaded?.Release();
            }
        }
    }
}
