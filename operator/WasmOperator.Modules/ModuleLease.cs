namespace WasmOperator.Modules;

/// <summary>
/// Modules handed to one consumer and not yet pinned by it: none of them is evicted while the lease is open.
/// A fetch whose <see cref="ModuleRequest.Lease"/> is set returns a module this lease holds. Not thread-safe:
/// one consumer (a reconcile pass) uses it at a time.
/// </summary>
public sealed class ModuleLease : IDisposable
{
    private readonly Func<string, bool> _hold;
    private readonly Action<string> _release;
    private readonly List<string> _held = [];
    private bool _disposed;

    internal ModuleLease(Func<string, bool> hold, Action<string> release)
    {
        _hold = hold;
        _release = release;
    }

    /// <summary>
    /// Holds the module <paramref name="moduleDigest"/> if it is still in the cache; false when it is gone (evicted
    /// meanwhile), and its path must not be used.
    /// </summary>
    public bool TryHold(string moduleDigest)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_hold(moduleDigest))
        {
            return false;
        }

        _held.Add(moduleDigest);
        return true;
    }

    /// <summary>Releases every module held: from now on only a pin keeps them.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var digest in _held)
        {
            _release(digest);
        }

        _held.Clear();
    }
}
