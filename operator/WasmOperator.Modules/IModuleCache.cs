namespace WasmOperator.Modules;

/// <summary>The content-addressed module cache as the operator sees it.</summary>
public interface IModuleCache
{
    /// <summary>Marks a module digest as used by a live revision; pins are counted.</summary>
    void Pin(string moduleDigest);

    /// <summary>Releases one pin taken with <see cref="Pin"/>.</summary>
    void Unpin(string moduleDigest);

    /// <summary>True when the digest has at least one pin.</summary>
    bool IsPinned(string moduleDigest);

    /// <summary>
    /// Removes unpinned modules, least recently used first, until the cache holds at most
    /// <paramref name="maxBytes"/> (default: the configured cache size). Returns the removed digests.
    /// </summary>
    IReadOnlyList<string> CollectGarbage(long? maxBytes = null);

    /// <summary>Path of a cached, verified module by digest, or null when absent or corrupt.</summary>
    ValueTask<string?> TryGetPathAsync(string moduleDigest, CancellationToken cancellationToken);

    /// <summary>
    /// Opens a lease for one consumer of fetched modules (a reconcile pass): a module it holds is not evicted until the
    /// lease is disposed, so it stays between the fetch and the consumer's own <see cref="Pin"/>. Pin before disposing.
    /// </summary>
    ModuleLease OpenLease();

    /// <summary>
    /// Raised after modules were evicted, by <see cref="CollectGarbage"/> or by a fetch whose commit went over the size
    /// cap: how many modules and how many bytes. Raised outside the cache's lock, on the evicting thread.
    /// </summary>
    event Action<int, long>? Evicted;

    /// <summary>Total bytes of the modules in the cache.</summary>
    long TotalBytes { get; }
}
