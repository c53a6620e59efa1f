using System.Globalization;
using System.Text.Json.Nodes;
using WasmOperator.KubeApiServer.Patching;
using WasmOperator.KubeApiServer.Resources;
using WasmOperator.KubeApiServer.Storage;
using WasmOperator.Validation;

namespace WasmOperator.KubeApiServer.Api;

/// <summary>
/// The write semantics of kube-apiserver on top of the store: server-owned metadata, resourceVersion
/// preconditions, generation, the status subresource, finalizers, managedFields, validation and defaulting.
/// </summary>
internal sealed class ObjectService(ObjectStore store, ResourceCatalog catalog)
{
    public ObjectStore Store => store;

    public ResourceCatalog Catalog => catalog;

    public static string Now() => DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    public JsonObject Get(ResourceType type, string? ns, string name) =>
        store.Get(type.Key, ns, name) ?? throw ApiErrors.NotFound(type, name);

    public JsonObject Create(ResourceType type, string version, string? ns, JsonObject body, WriteContext write)
    {
        var metadata = Metadata(body);
        var name = metadata["name"]?.GetValue<string>();
        if (string.IsNullOrEmpty(name) && metadata["generateName"]?.GetValue<string>() is { Length: > 0 } prefix)
        {
            name = prefix + Guid.NewGuid().ToString("N")[..5];
            metadata["name"] = name;
        }

        if (string.IsNullOrEmpty(name))
        {
            throw ApiErrors.Invalid(type, string.Empty, [("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")]);
        }

        if (ObjectNames.Problem(type, name) is { } problem)
        {
            throw ApiErrors.Invalid(type, name, [("metadata.name", "FieldValueInvalid", $"Invalid value: \"{name}\": {problem}")]);
        }

        CheckNamespace(type, ns, metadata);
        var created = store.Transact(type.Key, ns, name, (current, _) =>
        {
            if (current is not null)
            {
                throw ApiErrors.AlreadyExists(type, name);
            }

            var obj = (JsonObject)body.DeepClone();
            obj["apiVersion"] = type.ApiVersion(version);
            obj["kind"] = type.Kind;
            var meta = Metadata(obj);
            meta.Remove("resourceVersion");
            meta.Remove("deletionTimestamp");
            meta.Remove("managedFields");
            meta["uid"] = Guid.NewGuid().ToString();
            meta["creationTimestamp"] = Now();
            if (type.TracksGeneration)
            {
                meta["generation"] = 1L;
            }

            if (type.HasStatusSubresource && type.IsCustom)
            {
                obj.Remove("status");
            }

            obj = Admit(type, version, obj, null, name, write);
            ManagedFields.Read(null).RecordUpdate(null, obj, write.Manager, type.ApiVersion(version), null);
            return StoreChange.Put(obj);
        }, write.DryRun)!;
        return AfterWrite(type, created, write.DryRun);
    }

    /// <summary>PUT on the object or its status: <paramref name="subresource"/> is null or "status".</summary>
    public JsonObject Update(ResourceType type, string version, string? ns, string name, JsonObject body, string? subresource, WriteContext write)
    {
        var bodyName = body["metadata"]?["name"]?.GetValue<string>();
        if (bodyName is not null && bodyName != name)
        {
            throw ApiErrors.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})");
        }

        return Write(type, version, ns, name, subresource, write, current => (JsonObject)body.DeepClone());
    }

    public JsonObject Patch(ResourceType type, string version, string? ns, string name, string contentType, string patchText, string? subresource, bool force, WriteContext write)
    {
        var mediaType = contentType.Split(';')[0].Trim();
        if (mediaType == "application/apply-patch+yaml")
        {
            return Apply(type, version, ns, name, patchText, subresource, force, write);
        }

        var patch = YamlToJson.Parse(patchText);
        return Write(type, version, ns, name, subresource, write, current =>
        {
            JsonNode? patched = mediaType switch
            {
                "application/merge-patch+json" => JsonMergePatch.Apply(current, patch),
                "application/strategic-merge-patch+json" when type.IsCustom =>
                    throw ApiErrors.UnsupportedMediaType(mediaType + ": strategic merge patch is not supported for custom resources"),
                "application/strategic-merge-patch+json" => JsonMergePatch.Apply(current, patch, strategic: true),
                "application/json-patch+json" => JsonPatch.Apply(current, patch as JsonArray ?? throw ApiErrors.BadRequest("a json patch must be an array of operations")),
                _ => throw ApiErrors.UnsupportedMediaType(mediaType),
            };
            return patched as JsonObject ?? throw ApiErrors.BadRequest("the patch did not produce an object");
        });
    }

    /// <summary>Deletes, or with finalizers present marks for deletion. Returns the object and whether it is gone.</summary>
    public (JsonObject Object, bool Deleted) Delete(ResourceType type, string? ns, string name, JsonObject? options, bool dryRun)
    {
        var deleted = false;
        var result = store.Transact(type.Key, ns, name, (current, _) =>
        {
            if (current is null)
            {
                throw ApiErrors.NotFound(type, name);
            }

            var meta = Metadata(current);
            if (options?["preconditions"] is JsonObject preconditions)
            {
                if (preconditions["uid"]?.GetValue<string>() is { } uid && uid != meta["uid"]?.GetValue<string>())
                {
                    throw new ApiException(409, "Conflict", $"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta["uid"]}", new JsonObject { ["name"] = name, ["kind"] = type.Plural });
                }

                if (preconditions["resourceVersion"]?.GetValue<string>() is { } rv && rv != meta["resourceVersion"]?.GetValue<string>())
                {
                    throw new ApiException(409, "Conflict", $"Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {meta["resourceVersion"]}", new JsonObject { ["name"] = name, ["kind"] = type.Plural });
                }
            }

            if (meta["finalizers"] is JsonArray { Count: > 0 })
            {
                if (meta["deletionTimestamp"] is not null)
                {
                    return StoreChange.Keep(current);
                }

                meta["deletionTimestamp"] = Now();
                meta["deletionGracePeriodSeconds"] = 0;
                return StoreChange.Put(current);
            }

            deleted = true;
            return StoreChange.Remove(current);
        }, dryRun)!;
        if (deleted && !dryRun)
        {
            AfterRemoval(type, ns, name);
        }

        return (result, deleted);
    }

    private JsonObject Apply(ResourceType type, string version, string? ns, string name, string patchText, string? subresource, bool force, WriteContext write)
    {
        var manager = write.Manager;
        if (string.IsNullOrEmpty(manager))
        {
            throw ApiErrors.BadRequest("PATCH, fieldManager: Required value: is required for apply patch");
        }

        var applied = YamlToJson.Parse(patchText) as JsonObject ?? throw ApiErrors.BadRequest("an apply patch must be an object");
        var appliedMeta = Metadata(applied);
        if (appliedMeta["name"]?.GetValue<string>() is { } appliedName && appliedName != name)
        {
            throw ApiErrors.BadRequest($"the name of the object ({appliedName}) does not match the name on the URL ({name})");
        }

        appliedMeta["name"] = name;
        if (type.Namespaced)
        {
            appliedMeta["namespace"] = ns;
        }

        CheckNamespace(type, ns, appliedMeta);
        var created = false;
        var result = store.Transact(type.Key, ns, name, (current, _) =>
        {
            if (current is null && subresource is not null)
            {
                throw ApiErrors.NotFound(type, name);
            }

            var fields = ManagedFields.Read(current);
            var merged = fields.Apply(current, applied, manager, type.ApiVersion(version), force, subresource);
            if (current is null)
            {
                if (ObjectNames.Problem(type, name) is { } problem)
                {
                    throw ApiErrors.Invalid(type, name, [("metadata.name", "FieldValueInvalid", $"Invalid value: \"{name}\": {problem}")]);
                }

                created = true;
                var meta = Metadata(merged);
                meta["uid"] = Guid.NewGuid().ToString();
                meta["creationTimestamp"] = Now();
                meta.Remove("resourceVersion");
                if (type.TracksGeneration)
                {
                    meta["generation"] = 1L;
                }

                merged["apiVersion"] = type.ApiVersion(version);
                merged["kind"] = type.Kind;
                if (type.HasStatusSubresource && type.IsCustom && subresource is null)
                {
                    merged.Remove("status");
                }

                return StoreChange.Put(Admit(type, version, merged, null, name, write));
            }

            return Finish(type, version, current, merged, subresource, name, recordManager: null, write);
        }, write.DryRun)!;
        _ = created;
        return AfterWrite(type, result, write.DryRun);
    }

    private JsonObject Write(ResourceType type, string version, string? ns, string name, string? subresource, WriteContext write, Func<JsonObject, JsonObject> produce)
    {
        var removed = false;
        var result = store.Transact(type.Key, ns, name, (current, _) =>
        {
            if (current is null)
            {
                throw ApiErrors.NotFound(type, name);
            }

            var candidate = produce((JsonObject)current.DeepClone());
            var wantedVersion = candidate["metadata"]?["resourceVersion"]?.GetValue<string>();
            if (!string.IsNullOrEmpty(wantedVersion) && wantedVersion != current["metadata"]?["resourceVersion"]?.GetValue<string>())
            {
                throw ApiErrors.Conflict(type, name);
            }

            var change = Finish(type, version, current, candidate, subresource, name, write.Manager, write);
            removed = change.Kind == StoreChangeKind.Remove;
            return change;
        }, write.DryRun)!;
        if (removed && !write.DryRun)
        {
            AfterRemoval(type, ns, name);
            return result;
        }

        return AfterWrite(type, result, write.DryRun);
    }

    private JsonObject AfterWrite(ResourceType type, JsonObject result, bool dryRun)
    {
        if (!dryRun && type.Key == "apiextensions.k8s.io/customresourcedefinitions")
        {
            catalog.AddCrd(result);
        }

        return result;
    }

    /// <summary>Turns a candidate new version into the stored one: keeps server-owned fields, validates, bumps generation.</summary>
    private StoreChange Finish(ResourceType type, string version, JsonObject current, JsonObject candidate, string? subresource, string name, string? recordManager, WriteContext write)
    {
        JsonObject next;
        if (subresource == "status")
        {
            next = (JsonObject)current.DeepClone();
            if (candidate["status"] is { } status)
            {
                next["status"] = status.DeepClone();
            }
            else
            {
                next.Remove("status");
            }

            Metadata(next)["managedFields"] = candidate["metadata"]?["managedFields"]?.DeepClone();
        }
        else
        {
            next = candidate;
            if (type.HasStatusSubresource)
            {
                if (current["status"] is { } status)
                {
                    next["status"] = status.DeepClone();
                }
                else
                {
                    next.Remove("status");
                }
            }
        }

        var meta = Metadata(next);
        var old = Metadata(current);
        foreach (var key in (string[])["uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds", "name", "namespace", "resourceVersion"])
        {
            if (old[key] is { } value)
            {
                meta[key] = value.DeepClone();
            }
            else
            {
                meta.Remove(key);
            }
        }

        if (meta["managedFields"] is null)
        {
            meta.Remove("managedFields");
        }

        next["apiVersion"] = type.ApiVersion(version);
        next["kind"] = type.Kind;
        if (old["deletionTimestamp"] is not null)
        {
            var before = (old["finalizers"] as JsonArray ?? []).Select(f => f?.ToString()).ToHashSet();
            var added = (meta["finalizers"] as JsonArray ?? []).Select(f => f?.ToString()).Where(f => !before.Contains(f)).ToList();
            if (added.Count > 0)
            {
                throw ApiErrors.Invalid(type, name, [("metadata.finalizers", "FieldValueForbidden", $"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{string.Join(", ", added.Select(a => $"\"{a}\""))}}}")]);
            }
        }

        next = Admit(type, version, next, current, name, write);
        if (type.TracksGeneration && SpecChanged(type, current, next))
        {
            Metadata(next)["generation"] = (old["generation"] is { } generation ? long.Parse(generation.ToJsonString(), CultureInfo.InvariantCulture) : 0) + 1;
        }

        if (recordManager is not null)
        {
            ManagedFields.Read(current).RecordUpdate(current, next, recordManager, type.ApiVersion(version), subresource);
        }

        if (Metadata(next)["deletionTimestamp"] is not null && Metadata(next)["finalizers"] is not JsonArray { Count: > 0 })
        {
            return StoreChange.Remove(next);
        }

        if (SameIgnoringBookkeeping(current, next))
        {
            return StoreChange.Keep(current);
        }

        return StoreChange.Put(next);
    }

    /// <summary>
    /// A Secret's write-only <c>stringData</c> is merged into <c>data</c> (base64), overriding keys there,
    /// and never stored — as kube-apiserver does.
    /// </summary>
    private static void FoldStringData(JsonObject secret)
    {
        if (secret["stringData"] is not JsonObject stringData)
        {
            secret.Remove("stringData");
            return;
        }

        if (secret["data"] is not JsonObject data)
        {
            data = [];
            secret["data"] = data;
        }

        foreach (var (key, value) in stringData)
        {
            var text = value?.GetValue<string>() ?? string.Empty;
            data[key] = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(text));
        }

        secret.Remove("stringData");
    }

    /// <summary>Validation and defaulting for custom resources (with the write's fieldValidation); CRD bookkeeping for CRDs.</summary>
    private JsonObject Admit(ResourceType type, string version, JsonObject obj, JsonObject? old, string name, WriteContext write)
    {
        if (type.Key == "/secrets")
        {
            FoldStringData(obj);
        }

        if (type.IsCustom && type.Validators.TryGetValue(version, out var validator))
        {
            var result = validator.Validate(obj, old);
            CheckUnknownFields(type, version, result.PrunedFields, write);
            if (result.InvalidStatus is { } status)
            {
                throw new ApiException(
                    status["code"]?.GetValue<int>() ?? 422,
                    status["reason"]?.GetValue<string>() ?? "Invalid",
                    status["message"]?.GetValue<string>() ?? $"{type.Kind} \"{name}\" is invalid",
                    status["details"]?.DeepClone() as JsonObject);
            }

            return result.Object;
        }

        if (type.Key == "apiextensions.k8s.io/customresourcedefinitions")
        {
            try
            {
                CrdResource.FromCrd(obj, Validation.SchemaValidatorFactory.Create);
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException or NullReferenceException or ArgumentException)
            {
                throw ApiErrors.Invalid(type, name, [("spec", "FieldValueInvalid", $"Invalid value: {e.Message}")]);
            }

            var names = obj["spec"]!["names"]!.DeepClone();
            obj["status"] = new JsonObject
            {
                ["acceptedNames"] = names,
                ["storedVersions"] = new JsonArray([.. ((JsonArray)obj["spec"]!["versions"]!).OfType<JsonObject>().Where(v => v["storage"]?.GetValue<bool>() == true).Select(v => v["name"]!.DeepClone())]),
                ["conditions"] = new JsonArray(
                    Condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                    Condition("Established", "InitialNamesAccepted", "the initial names have been accepted")),
            };
        }

        if (type.Key == "/secrets" && string.IsNullOrEmpty(obj["type"]?.GetValue<string>()))
        {
            obj["type"] = "Opaque";
        }

        if (type.Key == "/namespaces" && old is null)
        {
            obj["status"] = new JsonObject { ["phase"] = "Active" };
        }

        return obj;
    }

    /// <summary>
    /// kube-apiserver decodes a custom resource strictly before it validates it: under Strict a field the schema
    /// does not declare fails the write (400), under Warn each one comes back as a warning, under Ignore it is just pruned.
    /// </summary>
    private static void CheckUnknownFields(ResourceType type, string version, IReadOnlyList<string> pruned, WriteContext write)
    {
        if (pruned.Count == 0)
        {
            return;
        }

        switch (write.FieldValidation)
        {
            case FieldValidation.Strict:
                throw ApiErrors.BadRequest(UnknownFields.CannotBeHandled(type.Kind, version, pruned));
            case FieldValidation.Warn:
                foreach (var path in pruned)
                {
                    write.Warn(UnknownFields.Describe(path));
                }

                break;
            default:
                break;
        }
    }

    private static JsonObject Condition(string type, string reason, string message) => new()
    {
        ["type"] = type,
        ["status"] = "True",
        ["lastTransitionTime"] = Now(),
        ["reason"] = reason,
        ["message"] = message,
    };

    /// <summary>After an object is really gone: CRDs stop being served and lose their objects; namespaces lose their contents.</summary>
    private void AfterRemoval(ResourceType type, string? ns, string name)
    {
        if (type.Key == "apiextensions.k8s.io/customresourcedefinitions")
        {
            var served = catalog.All.FirstOrDefault(t => t.IsCustom && t.QualifiedName == name);
            catalog.RemoveCrd(name);
            if (served is not null)
            {
                RemoveAll(served.Key, null);
            }
        }
        else if (type.Key == "/namespaces")
        {
            foreach (var namespaced in catalog.All.Where(t => t.Namespaced))
            {
                RemoveAll(namespaced.Key, name);
            }
        }

        _ = ns;
    }

    private void RemoveAll(string resourceKey, string? ns)
    {
        foreach (var obj in store.List(resourceKey, ns).Items)
        {
            var meta = Metadata(obj);
            store.Transact(resourceKey, meta["namespace"]?.GetValue<string>(), meta["name"]!.GetValue<string>(), (current, _) =>
                current is null ? StoreChange.Keep(null) : StoreChange.Remove(current));
        }
    }

    public void ServeStoredCrds()
    {
        foreach (var crd in store.List("apiextensions.k8s.io/customresourcedefinitions", null).Items)
        {
            catalog.AddCrd(crd);
        }
    }

    private void CheckNamespace(ResourceType type, string? ns, JsonObject metadata)
    {
        if (!type.Namespaced)
        {
            metadata.Remove("namespace");
            return;
        }

        var bodyNamespace = metadata["namespace"]?.GetValue<string>();
        if (!string.IsNullOrEmpty(bodyNamespace) && bodyNamespace != ns)
        {
            throw ApiErrors.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
        }

        metadata["namespace"] = ns;
        if (store.Get("/namespaces", null, ns!) is null)
        {
            throw ApiErrors.NamespaceNotFound(ns!);
        }
    }

    private static bool SpecChanged(ResourceType type, JsonObject before, JsonObject after)
    {
        static JsonObject Strip(JsonObject o, bool dropStatus)
        {
            var copy = (JsonObject)o.DeepClone();
            copy.Remove("metadata");
            if (dropStatus)
            {
                copy.Remove("status");
            }

            return copy;
        }

        return !JsonNode.DeepEquals(Strip(before, type.HasStatusSubresource), Strip(after, type.HasStatusSubresource));
    }

    private static bool SameIgnoringBookkeeping(JsonObject before, JsonObject after)
    {
        var a = (JsonObject)before.DeepClone();
        var b = (JsonObject)after.DeepClone();
        Metadata(a).Remove("managedFields");
        Metadata(b).Remove("managedFields");
        return JsonNode.DeepEquals(a, b);
    }

    public static JsonObject Metadata(JsonObject obj)
    {
        if (obj["metadata"] is not JsonObject metadata)
        {
            obj["metadata"] = metadata = new JsonObject();
        }

        return metadata;
    }
}
