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

    /// <summary>Total bytes of the modules in the cache.</summary>
    long TotalBytes { get; }
}
