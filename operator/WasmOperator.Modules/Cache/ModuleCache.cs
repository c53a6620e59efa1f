using System.Text.Json;
using Microsoft.Extensions.Logging;
using WasmOperator.Modules.Verification;

namespace WasmOperator.Modules.Cache;

/// <summary>
/// Content-addressed module files (<c>modules/sha256/&lt;hex&gt;.wasm</c>) written atomically, an index of
/// URL → resolved digest, pins for live revisions, and least-recently-used eviction of unpinned entries.
/// Files found at start-up are re-hashed on first use; a corrupt one is deleted and fetched again.
/// </summary>
internal sealed class ModuleCache : IModuleCache
{
    private readonly object _gate = new();
    private readonly string _modules;
    private readonly string _temp;
    private readonly string _indexPath;
    private readonly long _maxBytes;
    private readonly ILogger _logger;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _pins = new(StringComparer.Ordinal);
    // Held by open leases: handed to a consumer that has not pinned it yet. Counted like pins, never evicted.
    private readonly Dictionary<string, int> _leases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IndexEntry> _index = new(StringComparer.Ordinal);
    private long _totalBytes;

    public ModuleCache(string root, long maxBytes, ILogger logger)
    {
        _maxBytes = maxBytes;
        _logger = logger;
        _modules = Path.Combine(root, "modules", "sha256");
        _temp = Path.Combine(root, "tmp");
        _indexPath = Path.Combine(root, "index.json");
        Directory.CreateDirectory(_modules);
        if (Directory.Exists(_temp))
        {
            // Leftovers of downloads cut by a crash: never renamed, so never trusted.
            Directory.Delete(_temp, recursive: true);
        }

        Directory.CreateDirectory(_temp);
        foreach (var file in Directory.EnumerateFiles(_modules, "*.wasm"))
        {
            var digest = Sha256Digest.TryNormalize(Path.GetFileNameWithoutExtension(file));
            if (digest is null)
            {
                continue;
            }

            var info = new FileInfo(file);
            _entries[digest] = new Entry(info.Length, info.LastWriteTimeUtc, Verified: false);
            _totalBytes += info.Length;
        }

        LoadIndex();
    }

    public event Action<int, long>? Evicted;

    public long TotalBytes
    {
        get
        {
            lock (_gate)
            {
                return _totalBytes;
            }
        }
    }

    public string NewTempPath() => Path.Combine(_temp, Guid.NewGuid().ToString("N"));

    public string PathOf(string digest) => Path.Combine(_modules, Sha256Digest.Hex(digest) + ".wasm");

    public void Pin(string moduleDigest)
    {
        var digest = Require(moduleDigest);
        lock (_gate)
        {
            _pins[digest] = _pins.GetValueOrDefault(digest) + 1;
        }
    }

    public void Unpin(string moduleDigest)
    {
        var digest = Require(moduleDigest);
        lock (_gate)
        {
            Decrement(_pins, digest);
        }
    }

    public ModuleLease OpenLease() => new(TryHold, ReleaseHold);

    private bool TryHold(string moduleDigest)
    {
        var digest = Require(moduleDigest);
        lock (_gate)
        {
            if (!_entries.ContainsKey(digest))
            {
                return false;
            }

            _leases[digest] = _leases.GetValueOrDefault(digest) + 1;
            return true;
        }
    }

    private void ReleaseHold(string digest)
    {
        lock (_gate)
        {
            Decrement(_leases, Require(digest));
        }
    }

    private static void Decrement(Dictionary<string, int> counts, string digest)
    {
        if (counts.TryGetValue(digest, out var count))
        {
            if (count <= 1)
            {
                counts.Remove(digest);
            }
            else
            {
                counts[digest] = count - 1;
            }
        }
    }

    public bool IsPinned(string moduleDigest)
    {
        var digest = Require(moduleDigest);
        lock (_gate)
        {
            return _pins.ContainsKey(digest);
        }
    }

    public async ValueTask<string?> TryGetPathAsync(string moduleDigest, CancellationToken cancellationToken)
    {
        var digest = Require(moduleDigest);
        Entry entry;
        lock (_gate)
        {
            if (!_entries.TryGetValue(digest, out entry))
            {
                return null;
            }
        }

        var path = PathOf(digest);
        if (!entry.Verified)
        {
            string actual;
            try
            {
                actual = await Sha256Digest.OfFileAsync(path, cancellationToken);
            }
            catch (FileNotFoundException)
            {
                actual = "missing";
            }

            if (actual != digest)
            {
                Log.CorruptEntry(_logger, digest, actual);
                RemoveIfUnverified(digest);
                return null;
            }
        }

        lock (_gate)
        {
            // Re-read: a commit may have replaced the entry (and its size) while the file was hashed.
            if (!_entries.TryGetValue(digest, out var current))
            {
                return null;
            }

            _entries[digest] = current with { Verified = true, LastUsed = DateTime.UtcNow };
        }

        return path;
    }

    /// <summary>Moves a verified temp file into place (atomic rename) and evicts beyond the size cap.</summary>
    public string Commit(string tempPath, string digest, long size)
    {
        var path = PathOf(digest);
        File.Move(tempPath, path, overwrite: true);
        lock (_gate)
        {
            if (_entries.TryGetValue(digest, out var old))
            {
                _totalBytes -= old.Size;
            }

            _entries[digest] = new Entry(size, DateTime.UtcNow, Verified: true);
            _totalBytes += size;
        }

        Evict(_maxBytes, keep: digest);
        return path;
    }

    public IndexEntry? Lookup(string url)
    {
        lock (_gate)
        {
            return _index.GetValueOrDefault(url);
        }
    }

    /// <summary>The module digest last seen for a manifest digest, if any.</summary>
    public IndexEntry? LookupManifest(string manifestDigest)
    {
        lock (_gate)
        {
            foreach (var entry in _index.Values)
            {
                if (entry.ManifestDigest == manifestDigest)
                {
                    return entry;
                }
            }

            return null;
        }
    }

    public void Record(string url, IndexEntry entry)
    {
        lock (_gate)
        {
            _index[url] = entry;
            SaveIndexLocked();
        }
    }

    public IReadOnlyList<string> CollectGarbage(long? maxBytes = null) => Evict(maxBytes ?? _maxBytes, keep: null);

    private List<string> Evict(long maxBytes, string? keep)
    {
        var removed = new List<string>();
        long freed = 0;
        lock (_gate)
        {
            if (_totalBytes <= maxBytes)
            {
                return removed;
            }

            var candidates = new List<KeyValuePair<string, Entry>>();
            foreach (var pair in _entries)
            {
                if (pair.Key != keep && !_pins.ContainsKey(pair.Key) && !_leases.ContainsKey(pair.Key))
                {
                    candidates.Add(pair);
                }
            }

            candidates.Sort((a, b) => a.Value.LastUsed.CompareTo(b.Value.LastUsed));
            foreach (var (digest, _) in candidates)
            {
                if (_totalBytes <= maxBytes)
                {
                    break;
                }

                freed += RemoveLocked(digest);
                removed.Add(digest);
            }

            if (removed.Count > 0)
            {
                SaveIndexLocked();
            }
        }

        foreach (var digest in removed)
        {
            Log.Evicted(_logger, digest);
        }

        if (removed.Count > 0)
        {
            Evicted?.Invoke(removed.Count, freed);
        }

        return removed;
    }

    /// <summary>Drops a corrupt entry unless a fetch committed a fresh, verified file meanwhile.</summary>
    private void RemoveIfUnverified(string digest)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(digest, out var current) && current.Verified)
            {
                return;
            }

            RemoveLocked(digest);
            SaveIndexLocked();
        }
    }

    /// <summary>Removes the entry, its file and its index entries; returns the bytes it took.</summary>
    private long RemoveLocked(string digest)
    {
        long size = 0;
        if (_entries.Remove(digest, out var entry))
        {
            _totalBytes -= entry.Size;
            size = entry.Size;
        }

        try
        {
            File.Delete(PathOf(digest));
        }
        catch (IOException ex)
        {
            Log.DeleteFailed(_logger, digest, ex.Message);
        }

        var stale = new List<string>();
        foreach (var (url, indexed) in _index)
        {
            if (indexed.ModuleDigest == digest)
            {
                stale.Add(url);
            }
        }

        foreach (var url in stale)
        {
            _index.Remove(url);
        }

        return size;
    }

    private void LoadIndex()
    {
        if (!File.Exists(_indexPath))
        {
            return;
        }

        try
        {
            var loaded = JsonSerializer.Deserialize<Dictionary<string, IndexEntry>>(File.ReadAllBytes(_indexPath));
            foreach (var (url, entry) in loaded ?? [])
            {
                if (_entries.ContainsKey(entry.ModuleDigest))
                {
                    _index[url] = entry;
                }
            }
        }
        catch (JsonException ex)
        {
            // The index is only an accelerator: losing it costs a re-resolve, never correctness.
            Log.IndexUnreadable(_logger, _indexPath, ex.Message);
        }
    }

    private void SaveIndexLocked()
    {
        var temp = NewTempPath();
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(_index));
        File.Move(temp, _indexPath, overwrite: true);
    }

    private static string Require(string digest) =>
        Sha256Digest.TryNormalize(digest) ?? throw new ArgumentException($"'{digest}' is not a sha256 digest", nameof(digest));

    private readonly record struct Entry(long Size, DateTime LastUsed, bool Verified);
}
