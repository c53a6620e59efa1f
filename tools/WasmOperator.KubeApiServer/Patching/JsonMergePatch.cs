using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Patching;

/// <summary>RFC 7386 JSON merge patch; with <c>strategic</c>, strategic-merge directives are honoured or dropped.</summary>
internal static class JsonMergePatch
{
    public static JsonNode? Apply(JsonNode? target, JsonNode? patch, bool strategic = false)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target is JsonObject targetObject ? (JsonObject)targetObject.DeepClone() : new JsonObject();
        if (strategic && patchObject["$patch"]?.GetValue<string>() == "replace")
        {
            result = new JsonObject();
        }

        foreach (var (key, value) in patchObject)
        {
            if (strategic && key.StartsWith('$'))
            {
                // $setElementOrder/..., $retainKeys, $deleteFromPrimitiveList/...: ordering and pruning hints only.
                if (key.StartsWith("$deleteFromPrimitiveList/", StringComparison.Ordinal) && value is JsonArray removed)
                {
                    var field = key["$deleteFromPrimitiveList/".Length..];
                    if (result[field] is JsonArray list)
                    {
                        var drop = removed.Select(r => r?.ToJsonString()).ToHashSet();
                        result[field] = new JsonArray([.. list.Where(e => !drop.Contains(e?.ToJsonString())).Select(e => e?.DeepClone())]);
                    }
                }

                continue;
            }

            if (value is null)
            {
                result.Remove(key);
            }
            else if (strategic && value is JsonArray patchList && result[key] is JsonArray existingList && IsKeyedList(patchList, out var mergeKey))
            {
                result[key] = MergeKeyedList(existingList, patchList, mergeKey);
            }
            else if (strategic && key == "finalizers" && value is JsonArray finalizers && result[key] is JsonArray existingFinalizers)
            {
                var merged = new JsonArray([.. existingFinalizers.Select(e => e?.DeepClone())]);
                foreach (var f in finalizers)
                {
                    if (!merged.Any(e => e?.ToJsonString() == f?.ToJsonString()))
                    {
                        merged.Add(f?.DeepClone());
                    }
                }

                result[key] = merged;
            }
            else
            {
                var merged = Apply(result[key], value, strategic);
                result[key] = merged;
            }
        }

        return result;
    }

    private static bool IsKeyedList(JsonArray list, out string mergeKey)
    {
        foreach (var candidate in (string[])["name", "type", "containerPort", "mountPath", "ip"])
        {
            if (list.Count > 0 && list.All(e => e is JsonObject o && o[candidate] is not null))
            {
                mergeKey = candidate;
                return true;
            }
        }

        mergeKey = string.Empty;
        return false;
    }

    private static JsonArray MergeKeyedList(JsonArray existing, JsonArray patch, string mergeKey)
    {
        var result = new JsonArray([.. existing.Select(e => e?.DeepClone())]);
        foreach (var item in patch.OfType<JsonObject>())
        {
            var key = item[mergeKey]!.ToJsonString();
            var index = result.Select((e, i) => (e, i)).FirstOrDefault(p => p.e is JsonObject o && o[mergeKey]?.ToJsonString() == key, (null, -1)).Item2;
            if (item["$patch"]?.GetValue<string>() == "delete")
            {
                if (index >= 0)
                {
                    result.RemoveAt(index);
                }
            }
            else if (index >= 0)
            {
                result[index] = Apply(result[index], item, strategic: true);
            }
            else
            {
                result.Add(Apply(null, item, strategic: true));
            }
        }

        return result;
    }
}
