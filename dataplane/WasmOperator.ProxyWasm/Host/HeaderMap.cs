using System.Text;

namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// An ordered, multi-valued header map as plugins see it (Envoy semantics): names are lower-cased,
/// repeated names stay separate entries in order, pseudo-headers (<c>:method</c>, <c>:path</c>,
/// <c>:authority</c>, <c>:scheme</c>, <c>:status</c>) are ordinary entries at the front.
/// The proxy fills it before a callback and reads it back after; not thread-safe.
/// </summary>
public sealed class HeaderMap
{
    private readonly List<KeyValuePair<string, string>> _entries;

    /// <summary>Creates an empty map.</summary>
    public HeaderMap(int capacity = 16) => _entries = new List<KeyValuePair<string, string>>(capacity);

    /// <summary>
    /// Bumped by every change. The proxy compares it before and after the plugins run to tell
    /// whether it must write the headers back, without copying the map.
    /// </summary>
    public int Version { get; private set; }

    /// <summary>Number of entries (pairs).</summary>
    public int Count => _entries.Count;

    /// <summary>The entry at <paramref name="index"/>.</summary>
    public KeyValuePair<string, string> this[int index] => _entries[index];

    /// <summary>Appends an entry; the name is lower-cased.</summary>
    public void Add(string name, string value)
    {
        _entries.Add(new(Lower(name), value));
        Version++;
    }

    /// <summary>The first value of <paramref name="name"/>, or null.</summary>
    public string? Get(string name)
    {
        name = Lower(name);
        foreach (var entry in _entries)
        {
            if (string.Equals(entry.Key, name, StringComparison.Ordinal))
            {
                return entry.Value;
            }
        }

        return null;
    }

    /// <summary>Replaces every value of <paramref name="name"/> with one value at the first one's position (appends if absent).</summary>
    public void Set(string name, string value)
    {
        name = Lower(name);
        var index = -1;
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (string.Equals(_entries[i].Key, name, StringComparison.Ordinal))
            {
                _entries.RemoveAt(i);
                index = i;
            }
        }

        Version++;
        if (index < 0)
        {
            _entries.Add(new(name, value));
        }
        else
        {
            _entries.Insert(index, new(name, value));
        }
    }

    /// <summary>Removes every entry named <paramref name="name"/>; returns how many were removed.</summary>
    public int Remove(string name)
    {
        name = Lower(name);
        var removed = 0;
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (string.Equals(_entries[i].Key, name, StringComparison.Ordinal))
            {
                _entries.RemoveAt(i);
                removed++;
            }
        }

        if (removed > 0)
        {
            Version++;
        }

        return removed;
    }

    /// <summary>Removes all entries.</summary>
    public void Clear()
    {
        _entries.Clear();
        Version++;
    }

    /// <summary>Total bytes of names and values (what <c>proxy_get_header_map_size</c> reports).</summary>
    public int ByteSize
    {
        get
        {
            var size = 0;
            foreach (var entry in _entries)
            {
                size += Encoding.UTF8.GetByteCount(entry.Key) + Encoding.UTF8.GetByteCount(entry.Value);
            }

            return size;
        }
    }

    /// <summary>The entries in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Entries => _entries;

    private static string Lower(string name)
    {
        foreach (var c in name)
        {
            if (c is >= 'A' and <= 'Z')
            {
                return name.ToLowerInvariant();
            }
        }

        return name;
    }
}
