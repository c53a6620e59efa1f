using System.Text.Json;
using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Storage;

/// <summary>
/// All objects, keyed by resource, namespace and name, with one global monotonic resourceVersion and a
/// bounded history of changes for watches. Optionally persisted to a snapshot file after every change.
/// </summary>
internal sealed class ObjectStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SortedDictionary<string, JsonObject>> _objects = new(StringComparer.Ordinal);
    private readonly LinkedList<StoreEvent> _history = new();
    private readonly List<WatchSubscription> _watchers = [];
    private readonly int _historyLimit;
    private readonly string? _snapshotPath;
    private long _revision;
    private long _oldestWatchableRevision;

    public ObjectStore(int historyLimit, string? dataDir)
    {
        _historyLimit = historyLimit;
        if (dataDir is not null)
        {
            Directory.CreateDirectory(dataDir);
            _snapshotPath = Path.Combine(dataDir, "objects.json");
            Load();
        }

        _oldestWatchableRevision = _revision;
    }

    public long Revision
    {
        get
        {
            lock (_gate)
            {
                return _revision;
            }
        }
    }

    /// <summary>The oldest revision a watch may resume from; anything older answers 410 Gone.</summary>
    public long OldestWatchableRevision
    {
        get
        {
            lock (_gate)
            {
                return _oldestWatchableRevision;
            }
        }
    }

    public static string ObjectKey(string? ns, string name) => $"{ns}/{name}";

    public JsonObject? Get(string resourceKey, string? ns, string name)
    {
        lock (_gate)
        {
            return _objects.TryGetValue(resourceKey, out var items) && items.TryGetValue(ObjectKey(ns, name), out var obj)
                ? (JsonObject)obj.DeepClone()
                : null;
        }
    }

    /// <summary>A consistent copy of the objects of one resource (optionally one namespace), in key order, and the revision.</summary>
    public (List<JsonObject> Items, long Revision) List(string resourceKey, string? ns)
    {
        lock (_gate)
        {
            var result = new List<JsonObject>();
            if (_objects.TryGetValue(resourceKey, out var items))
            {
                foreach (var (key, obj) in items)
                {
                    if (ns is null || key.StartsWith(ns + "/", StringComparison.Ordinal))
                    {
                        result.Add((JsonObject)obj.DeepClone());
                    }
                }
            }

            return (result, _revision);
        }
    }

    /// <summary>
    /// Runs <paramref name="decide"/> on the current object (a copy, or null) and the revision a write would get,
    /// atomically with respect to every other write. Returns the stored (or kept) object.
    /// </summary>
    public JsonObject? Transact(string resourceKey, string? ns, string name, Func<JsonObject?, long, StoreChange> decide, bool dryRun = false)
    {
        lock (_gate)
        {
            _objects.TryGetValue(resourceKey, out var items);
            var key = ObjectKey(ns, name);
            JsonObject? current = null;
            items?.TryGetValue(key, out current);
            var change = decide(current is null ? null : (JsonObject)current.DeepClone(), _revision + 1);
            if (change.Kind == StoreChangeKind.Keep || dryRun)
            {
                return change.Object;
            }

            var obj = change.Object!;
            var revision = ++_revision;
            SetResourceVersion(obj, revision);
            items ??= _objects[resourceKey] = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
            string type;
            if (change.Kind == StoreChangeKind.Put)
            {
                type = current is null ? "ADDED" : "MODIFIED";
                items[key] = obj;
            }
            else
            {
                type = "DELETED";
                items.Remove(key);
            }

            Record(new StoreEvent(type, resourceKey, (JsonObject)obj.DeepClone(), current, revision));
            Save();
            return (JsonObject)obj.DeepClone();
        }
    }

    /// <summary>
    /// Registers a watch. Events after <paramref name="fromRevision"/> are replayed; with null, the current objects
    /// are replayed as ADDED when <paramref name="initialState"/> is set, else the watch starts from now.
    /// </summary>
    public WatchSubscription Subscribe(string resourceKey, long? fromRevision, bool initialState)
    {
        var subscription = new WatchSubscription(this, resourceKey);
        lock (_gate)
        {
            if (fromRevision is { } from)
            {
                if (from < _oldestWatchableRevision)
                {
                    throw new RevisionTooOldException(from, _oldestWatchableRevision);
                }

                subscription.Backlog = [.. _history.Where(e => e.Revision > from && e.ResourceKey == resourceKey)];
            }
            else if (initialState && _objects.TryGetValue(resourceKey, out var items))
            {
                subscription.Backlog = [.. items.Values.Select(o => new StoreEvent(
                    "ADDED",
                    resourceKey,
                    (JsonObject)o.DeepClone(),
                    null,
                    long.Parse(o["metadata"]!["resourceVersion"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture)))];
            }

            subscription.StartRevision = _revision;
            _watchers.Add(subscription);
        }

        return subscription;
    }

    internal void Unsubscribe(WatchSubscription subscription)
    {
        lock (_gate)
        {
            _watchers.Remove(subscription);
        }
    }

    private void Record(StoreEvent e)
    {
        _history.AddLast(e);
        while (_history.Count > _historyLimit)
        {
            _oldestWatchableRevision = _history.First!.Value.Revision;
            _history.RemoveFirst();
        }

        foreach (var watcher in _watchers)
        {
            if (watcher.ResourceKey == e.ResourceKey)
            {
                watcher.Publish(e);
            }
        }
    }

    private static void SetResourceVersion(JsonObject obj, long revision)
    {
        if (obj["metadata"] is not JsonObject metadata)
        {
            obj["metadata"] = metadata = new JsonObject();
        }

        metadata["resourceVersion"] = revision.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private void Save()
    {
        if (_snapshotPath is null)
        {
            return;
        }

        var all = new JsonArray();
        foreach (var (resource, items) in _objects)
        {
            foreach (var obj in items.Values)
            {
                all.Add(new JsonObject { ["resource"] = resource, ["object"] = obj.DeepClone() });
            }
        }

        var snapshot = new JsonObject { ["revision"] = _revision, ["objects"] = all };
        var temp = _snapshotPath + ".tmp";
        File.WriteAllText(temp, snapshot.ToJsonString());
        File.Move(temp, _snapshotPath, overwrite: true);
    }

    private void Load()
    {
        if (_snapshotPath is null || !File.Exists(_snapshotPath))
        {
            return;
        }

        var snapshot = JsonNode.Parse(File.ReadAllText(_snapshotPath)) as JsonObject
            ?? throw new JsonException($"{_snapshotPath} is not a JSON object; delete it to start empty");
        _revision = snapshot["revision"]!.GetValue<long>();
        foreach (var entry in snapshot["objects"]!.AsArray().OfType<JsonObject>())
        {
            var resource = entry["resource"]!.GetValue<string>();
            var obj = (JsonObject)entry["object"]!.DeepClone();
            var metadata = obj["metadata"]!;
            if (!_objects.TryGetValue(resource, out var items))
            {
                _objects[resource] = items = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
            }

            items[ObjectKey(metadata["namespace"]?.GetValue<string>(), metadata["name"]!.GetValue<string>())] = obj;
        }
    }
}
