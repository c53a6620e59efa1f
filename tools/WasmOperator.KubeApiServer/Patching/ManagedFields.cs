using System.Globalization;
using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Patching;

/// <summary>
/// metadata.managedFields bookkeeping: which manager owns which leaf fields (FieldsV1). Lists are owned
/// atomically; that is coarser than kube-apiserver for associative lists but keeps apply and conflicts honest.
/// </summary>
internal sealed class ManagedFields
{
    private const char Separator = '\u001f';
    private static readonly HashSet<string> ServerMetadata = new(StringComparer.Ordinal)
    {
        "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
        "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
    };

    private readonly List<Entry> _entries;

    private ManagedFields(List<Entry> entries) => _entries = entries;

    public static ManagedFields Read(JsonObject? obj)
    {
        var entries = new List<Entry>();
        if (obj?["metadata"]?["managedFields"] is JsonArray array)
        {
            foreach (var item in array.OfType<JsonObject>())
            {
                var paths = new HashSet<string>(StringComparer.Ordinal);
                if (item["fieldsV1"] is JsonObject fields)
                {
                    CollectFieldsV1(fields, string.Empty, paths);
                }

                entries.Add(new Entry(
                    item["manager"]?.GetValue<string>() ?? string.Empty,
                    item["operation"]?.GetValue<string>() ?? "Update",
                    item["apiVersion"]?.GetValue<string>() ?? string.Empty,
                    item["subresource"]?.GetValue<string>(),
                    paths));
            }
        }

        return new ManagedFields(entries);
    }

    /// <summary>Leaf field paths of an object, with their JSON values, leaving out server-owned metadata.</summary>
    public static Dictionary<string, string> Leaves(JsonObject? obj)
    {
        var leaves = new Dictionary<string, string>(StringComparer.Ordinal);
        if (obj is null)
        {
            return leaves;
        }

        foreach (var (key, value) in obj)
        {
            if (key is "apiVersion" or "kind")
            {
                continue;
            }

            if (key == "metadata" && value is JsonObject metadata)
            {
                foreach (var (metaKey, metaValue) in metadata)
                {
                    if (!ServerMetadata.Contains(metaKey))
                    {
                        CollectLeaves(metaValue, "metadata" + Separator + metaKey, leaves);
                    }
                }

                continue;
            }

            CollectLeaves(value, key, leaves);
        }

        return leaves;
    }

    /// <summary>Records a non-apply write (create, update, patch) by <paramref name="manager"/>: it takes the fields it changed.</summary>
    public void RecordUpdate(JsonObject? oldObj, JsonObject newObj, string manager, string apiVersion, string? subresource)
    {
        var before = Leaves(oldObj);
        var after = Leaves(newObj);
        var changed = after.Where(p => !before.TryGetValue(p.Key, out var v) || v != p.Value).Select(p => p.Key).ToList();
        var removed = before.Keys.Where(k => !after.ContainsKey(k)).ToList();
        foreach (var entry in _entries)
        {
            entry.Paths.ExceptWith(changed);
            entry.Paths.ExceptWith(removed);
        }

        if (changed.Count > 0)
        {
            var mine = Find(manager, "Update", subresource) ?? Add(new Entry(manager, "Update", apiVersion, subresource, new HashSet<string>(StringComparer.Ordinal)));
            mine.ApiVersion = apiVersion;
            mine.Paths.UnionWith(changed);
        }

        Write(newObj);
    }

    /// <summary>
    /// Server-side apply: merges <paramref name="applied"/> into <paramref name="existing"/> (null to create),
    /// removes fields this manager applied before and no longer applies, and reports conflicts with other managers.
    /// </summary>
    public JsonObject Apply(JsonObject? existing, JsonObject applied, string manager, string apiVersion, bool force, string? subresource)
    {
        var appliedLeaves = Leaves(applied);
        var existingLeaves = Leaves(existing);
        var conflicts = new List<(string Manager, string ApiVersion, string Path)>();
        foreach (var entry in _entries)
        {
            if (entry.Manager == manager && entry.Operation == "Apply")
            {
                continue;
            }

            foreach (var path in entry.Paths)
            {
                if (appliedLeaves.TryGetValue(path, out var value) && existingLeaves.TryGetValue(path, out var current) && value != current)
                {
                    conflicts.Add((entry.Manager, entry.ApiVersion, path));
                }
            }
        }

        if (conflicts.Count > 0 && !force)
        {
            throw ApplyConflict(conflicts);
        }

        foreach (var (owner, _, path) in conflicts)
        {
            foreach (var entry in _entries.Where(e => e.Manager == owner))
            {
                entry.Paths.Remove(path);
            }
        }

        var mine = Find(manager, "Apply", subresource) ?? Add(new Entry(manager, "Apply", apiVersion, subresource, new HashSet<string>(StringComparer.Ordinal)));
        var result = existing is null ? new JsonObject() : (JsonObject)existing.DeepClone();
        foreach (var dropped in mine.Paths.Where(p => !appliedLeaves.ContainsKey(p)).ToList())
        {
            if (!_entries.Any(e => e != mine && e.Paths.Contains(dropped)))
            {
                RemovePath(result, dropped.Split(Separator));
            }
        }

        result = MergeApplied(result, applied) as JsonObject ?? new JsonObject();
        mine.Paths.Clear();
        mine.Paths.UnionWith(appliedLeaves.Keys);
        mine.ApiVersion = apiVersion;
        Write(result);
        return result;
    }

    private static Api.ApiException ApplyConflict(List<(string Manager, string ApiVersion, string Path)> conflicts)
    {
        var causes = new JsonArray();
        foreach (var (manager, apiVersion, path) in conflicts)
        {
            var field = Display(path);
            causes.Add(new JsonObject
            {
                ["type"] = "FieldManagerConflict",
                ["message"] = $"conflict with \"{manager}\" using {apiVersion}",
                ["field"] = field,
            });
        }

        var lines = conflicts.GroupBy(c => (c.Manager, c.ApiVersion))
            .Select(g => g.Count() == 1
                ? $"conflict with \"{g.Key.Manager}\" using {g.Key.ApiVersion}: {Display(g.First().Path)}"
                : $"conflicts with \"{g.Key.Manager}\" using {g.Key.ApiVersion}:\n" + string.Join("\n", g.Select(c => "- " + Display(c.Path))));
        var plural = conflicts.Count == 1 ? "conflict" : "conflicts";
        var message = $"Apply failed with {conflicts.Count} {plural}: {string.Join("\n", lines)}";
        return new Api.ApiException(409, "Conflict", message, new JsonObject { ["causes"] = causes });
    }

    private static string Display(string path) => "." + path.Replace(Separator, '.');

    private static JsonNode? MergeApplied(JsonNode? target, JsonNode? applied)
    {
        if (applied is JsonObject appliedObject && target is JsonObject targetObject)
        {
            foreach (var (key, value) in appliedObject)
            {
                targetObject[key] = MergeApplied(targetObject[key]?.DeepClone(), value);
            }

            return targetObject;
        }

        return applied?.DeepClone();
    }

    private static void RemovePath(JsonObject obj, string[] path)
    {
        JsonNode? node = obj;
        for (var i = 0; i < path.Length - 1; i++)
        {
            node = node is JsonObject o ? o[path[i]] : null;
        }

        (node as JsonObject)?.Remove(path[^1]);
    }

    private static void CollectLeaves(JsonNode? node, string path, Dictionary<string, string> leaves)
    {
        if (node is JsonObject obj && obj.Count > 0)
        {
            foreach (var (key, value) in obj)
            {
                CollectLeaves(value, path + Separator + key, leaves);
            }
        }
        else
        {
            leaves[path] = node?.ToJsonString() ?? "null";
        }
    }

    private static void CollectFieldsV1(JsonObject fields, string prefix, HashSet<string> paths)
    {
        foreach (var (key, value) in fields)
        {
            if (key == ".")
            {
                continue;
            }

            var name = key.StartsWith("f:", StringComparison.Ordinal) ? key[2..] : key;
            var path = prefix.Length == 0 ? name : prefix + Separator + name;
            var children = value as JsonObject;
            if (children is null || children.Count == 0 || !key.StartsWith("f:", StringComparison.Ordinal) || children.All(c => !c.Key.StartsWith("f:", StringComparison.Ordinal)))
            {
                paths.Add(key.StartsWith("f:", StringComparison.Ordinal) ? path : prefix);
            }
            else
            {
                CollectFieldsV1(children, path, paths);
            }
        }
    }

    private Entry? Find(string manager, string operation, string? subresource) =>
        _entries.FirstOrDefault(e => e.Manager == manager && e.Operation == operation && e.Subresource == subresource);

    private Entry Add(Entry entry)
    {
        _entries.Add(entry);
        return entry;
    }

    private void Write(JsonObject obj)
    {
        if (obj["metadata"] is not JsonObject metadata)
        {
            obj["metadata"] = metadata = new JsonObject();
        }

        var array = new JsonArray();
        var now = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        foreach (var entry in _entries.Where(e => e.Paths.Count > 0))
        {
            var fields = new JsonObject();
            foreach (var path in entry.Paths.Order(StringComparer.Ordinal))
            {
                var node = fields;
                foreach (var segment in path.Split(Separator))
                {
                    var key = "f:" + segment;
                    if (node[key] is not JsonObject child)
                    {
                        node[key] = child = new JsonObject();
                    }

                    node = child;
                }
            }

            var item = new JsonObject
            {
                ["manager"] = entry.Manager,
                ["operation"] = entry.Operation,
                ["apiVersion"] = entry.ApiVersion,
                ["time"] = now,
                ["fieldsType"] = "FieldsV1",
                ["fieldsV1"] = fields,
            };
            if (entry.Subresource is not null)
            {
                item["subresource"] = entry.Subresource;
            }

            array.Add(item);
        }

        if (array.Count > 0)
        {
            metadata["managedFields"] = array;
        }
        else
        {
            metadata.Remove("managedFields");
        }
    }

    private sealed class Entry(string manager, string operation, string apiVersion, string? subresource, HashSet<string> paths)
    {
        public string Manager { get; } = manager;

        public string Operation { get; } = operation;

        public string ApiVersion { get; set; } = apiVersion;

        public string? Subresource { get; } = subresource;

        public HashSet<string> Paths { get; } = paths;
    }
}
