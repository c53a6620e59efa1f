namespace WasmOperator.Operator.Runtime.Cache;

/// <summary>
/// The local copy of the watched objects, keyed <c>namespace/name</c>, indexed by namespace and by label.
/// Filled by the reflector; readers get the last object seen, never a half-applied change.
/// </summary>
internal sealed class ObjectCache<T>(Func<T, string?> resourceVersionOf, Func<T, IReadOnlyDictionary<string, string>?> labelsOf)
    where T : class
{
    private readonly Dictionary<string, T> _items = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _byNamespace = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _byLabel = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _items.Count;
            }
        }
    }

    public static string KeyOf(string? ns, string name) => string.IsNullOrEmpty(ns) ? name : $"{ns}/{name}";

    public T? Get(string key)
    {
        lock (_lock)
        {
            return _items.GetValueOrDefault(key);
        }
    }

    public IReadOnlyList<string> Keys()
    {
        lock (_lock)
        {
            return [.. _items.Keys];
        }
    }

    public IReadOnlyList<T> ListNamespace(string ns) => Lookup(_byNamespace, ns);

    public IReadOnlyList<T> ListByLabel(string label, string value) => Lookup(_byLabel, $"{label}={value}");

    /// <summary>Stores <paramref name="item"/>; returns false when the same resourceVersion is already held.</summary>
    public bool Upsert(string key, T item)
    {
        lock (_lock)
        {
            if (_items.TryGetValue(key, out var old))
            {
                if (resourceVersionOf(old) == resourceVersionOf(item))
                {
                    return false;
                }

                Unindex(key, old);
            }

            _items[key] = item;
            Index(key, item);
            return true;
        }
    }

    public bool Remove(string key)
    {
        lock (_lock)
        {
            if (!_items.Remove(key, out var old))
            {
                return false;
            }

            Unindex(key, old);
            return true;
        }
    }

    /// <summary>Replaces the content with a full list; returns the keys that were added, changed or removed.</summary>
    public IReadOnlyList<string> Replace(IReadOnlyDictionary<string, T> items, Func<string, bool> inScope)
    {
        var changed = new List<string>();
        lock (_lock)
        {
            foreach (var key in _items.Keys.ToList())
            {
                if (inScope(key) && !items.ContainsKey(key))
                {
                    Unindex(key, _items[key]);
                    _items.Remove(key);
                    changed.Add(key);
                }
            }
        }

        foreach (var (key, item) in items)
        {
            if (Upsert(key, item))
            {
                changed.Add(key);
            }
        }

        return changed;
    }

    private static string NamespaceOf(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? string.Empty : key[..slash];
    }

    private IReadOnlyList<T> Lookup(Dictionary<string, HashSet<string>> index, string value)
    {
        lock (_lock)
        {
            if (!index.TryGetValue(value, out var keys))
            {
                return [];
            }

            var result = new List<T>(keys.Count);
            foreach (var key in keys)
            {
                result.Add(_items[key]);
            }

            return result;
        }
    }

    private void Index(string key, T item)
    {
        Add(_byNamespace, NamespaceOf(key), key);
        if (labelsOf(item) is { } labels)
        {
            foreach (var (label, value) in labels)
            {
                Add(_byLabel, $"{label}={value}", key);
            }
        }
    }

    private void Unindex(string key, T item)
    {
        Drop(_byNamespace, NamespaceOf(key), key);
        if (labelsOf(item) is { } labels)
        {
            foreach (var (label, value) in labels)
            {
                Drop(_byLabel, $"{label}={value}", key);
            }
        }
    }

    private static void Add(Dictionary<string, HashSet<string>> index, string value, string key)
    {
        if (!index.TryGetValue(value, out var keys))
        {
            index[value] = keys = new HashSet<string>(StringComparer.Ordinal);
        }

        keys.Add(key);
    }

    private static void Drop(Dictionary<string, HashSet<string>> index, string value, string key)
    {
        if (index.TryGetValue(value, out var keys) && keys.Remove(key) && keys.Count == 0)
        {
            index.Remove(value);
        }
    }
}
