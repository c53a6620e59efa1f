namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// An ordered, multi-valued header map as plugins see it (Envoy semantics): names are lower-cased,
/// repeated names stay separate entries in order, pseudo-headers (<c>:method</c>, <c>:path</c>,
/// <c>:authority</c>, <c>:scheme</c>, <c>:status</c>) are ordinary entries at the front.
/// The proxy fills it before a callback and reads it back after; not thread-safe.
/// </summary>
/// <remarks>
/// Field values are bytes, not text (RFC 9110 allows obs-text, and Envoy passes whatever bytes came): each
/// string holds one char per byte, U+0000–U+00FF, as Latin-1 decodes them. The proxy reads fields from the
/// wire that way and writes them back that way, and plugins get and set the bytes, so UTF-8 values (or
/// values that are not UTF-8 at all) cross unchanged.
/// </remarks>
public sealed class HeaderMap
{
    private readonly List<KeyValuePair<string, string>> _entries;
    private List<string>? _changed;
    private bool _tracking;
    private bool _replaced;
    private int _byteSize;

    /// <summary>Creates an empty map.</summary>
    public HeaderMap(int capacity = 16) => _entries = new List<KeyValuePair<string, string>>(capacity);

    /// <summary>
    /// Bumped by every change. The proxy compares it before and after the plugins run to tell
    /// whether it must write the headers back, without copying the map.
    /// </summary>
    public int Version { get; private set; }

    /// <summary>
    /// Starts recording which names change from here on (the proxy calls it once it has filled the map), so it
    /// can write back only those instead of every header.
    /// </summary>
    public void TrackChanges()
    {
        _tracking = true;
        _replaced = false;
        _changed?.Clear();
    }

    /// <summary>True when the map was cleared (replaced as a whole) since <see cref="TrackChanges"/>: write every entry back.</summary>
    public bool Replaced => _replaced;

    /// <summary>The lower-cased names added, set or removed since <see cref="TrackChanges"/> (meaningless once <see cref="Replaced"/>).</summary>
    public IReadOnlyList<string> ChangedNames => (IReadOnlyList<string>?)_changed ?? [];

    /// <summary>Number of entries (pairs).</summary>
    public int Count => _entries.Count;

    /// <summary>The entry at <paramref name="index"/>.</summary>
    public KeyValuePair<string, string> this[int index] => _entries[index];

    /// <summary>Appends an entry; the name is lower-cased.</summary>
    public void Add(string name, string value)
    {
        name = Lower(name);
        _entries.Add(new(name, value));
        _byteSize += name.Length + value.Length;
        Changed(name);
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
                _byteSize -= name.Length + _entries[i].Value.Length;
                _entries.RemoveAt(i);
                index = i;
            }
        }

        Changed(name);
        _byteSize += name.Length + value.Length;
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
                _byteSize -= name.Length + _entries[i].Value.Length;
                _entries.RemoveAt(i);
                removed++;
            }
        }

        if (removed > 0)
        {
            Changed(name);
        }

        return removed;
    }

    /// <summary>Removes all entries.</summary>
    public void Clear()
    {
        _entries.Clear();
        _byteSize = 0;
        Version++;
        _replaced = _tracking;
    }

    /// <summary>Total bytes of names and values (what <c>proxy_get_header_map_size</c> reports): one per char, see the class remarks.</summary>
    public int ByteSize => _byteSize;

    /// <summary>How many entries are named <paramref name="name"/> and the bytes of their names and values.</summary>
    internal (int Count, int Bytes) Measure(string name)
    {
        name = Lower(name);
        var count = 0;
        var bytes = 0;
        foreach (var entry in _entries)
        {
            if (string.Equals(entry.Key, name, StringComparison.Ordinal))
            {
                count++;
                bytes += entry.Key.Length + entry.Value.Length;
            }
        }

        return (count, bytes);
    }

    /// <summary>The entries in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Entries => _entries;

    /// <summary>
    /// The map in the Proxy-Wasm pairs encoding: what <c>proxy_get_header_map_pairs</c> returns, and how
    /// Envoy serializes header-map properties (<c>request.headers</c>, <c>response.trailers</c>, …).
    /// </summary>
    public byte[] ToPairs()
    {
        var bytes = new byte[Abi.Pairs.SerializedSize(this)];
        Abi.Pairs.Serialize(this, bytes);
        return bytes;
    }

    private void Changed(string name)
    {
        Version++;
        if (!_tracking || _replaced)
        {
            return;
        }

        _changed ??= new List<string>(4);
        if (!_changed.Contains(name))
        {
            _changed.Add(name);
        }
    }

    // Names in the spelling servers and clients commonly send, already lower-cased: no allocation per header.
    private static readonly Dictionary<string, string> KnownLower = new[]
    {
        "Accept", "Accept-Encoding", "Accept-Language", "Accept-Ranges", "Age", "Authorization", "Cache-Control", "Connection",
        "Content-Encoding", "Content-Language", "Content-Length", "Content-Type", "Cookie", "Date", "ETag", "Expires", "Host",
        "If-Modified-Since", "If-None-Match", "Last-Modified", "Location", "Origin", "Pragma", "Referer", "Server", "Set-Cookie",
        "Transfer-Encoding", "User-Agent", "Vary", "Via", "X-Forwarded-For", "X-Forwarded-Proto", "X-Request-ID", "X-Request-Id",
    }.ToDictionary(n => n, n => n.ToLowerInvariant(), StringComparer.Ordinal);

    private static string Lower(string name)
    {
        foreach (var c in name)
        {
            if (c is >= 'A' and <= 'Z')
            {
                return KnownLower.TryGetValue(name, out var known) ? known : name.ToLowerInvariant();
            }
        }

        return name;
    }
}
