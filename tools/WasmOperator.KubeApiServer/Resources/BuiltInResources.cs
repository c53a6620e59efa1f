using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Resources;

/// <summary>The built-in resources the operator and kubectl need, with the columns kube-apiserver prints for them.</summary>
internal static class BuiltInResources
{
    public static List<ResourceType> Create()
    {
        var name = new PrinterColumn("Name", "string", "name", "Name must be unique within a namespace.", 0, o => o["metadata"]?["name"]?.DeepClone());
        var age = CrdResource.DateColumn("Age", ".metadata.creationTimestamp", "CreationTimestamp", 0);
        return
        [
            new ResourceType
            {
                Group = string.Empty, Versions = ["v1"], Plural = "namespaces", Singular = "namespace", Kind = "Namespace",
                Namespaced = false, ShortNames = ["ns"], HasStatusSubresource = true,
                Columns = [name, new("Status", "string", string.Empty, "The status of the namespace", 0, o => o["status"]?["phase"]?.DeepClone() ?? "Active"), age],
            },
            new ResourceType
            {
                Group = string.Empty, Versions = ["v1"], Plural = "configmaps", Singular = "configmap", Kind = "ConfigMap",
                Namespaced = true, ShortNames = ["cm"],
                Columns = [name, new("Data", "string", string.Empty, "Number of data items", 0, o => Count(o["data"]) + Count(o["binaryData"])), age],
            },
            new ResourceType
            {
                Group = string.Empty, Versions = ["v1"], Plural = "secrets", Singular = "secret", Kind = "Secret",
                Namespaced = true,
                Columns =
                [
                    name,
                    new("Type", "string", string.Empty, "The type of the secret", 0, o => o["type"]?.DeepClone() ?? "Opaque"),
                    new("Data", "string", string.Empty, "Number of data items", 0, o => Count(o["data"])),
                    age,
                ],
            },
            new ResourceType
            {
                Group = string.Empty, Versions = ["v1"], Plural = "events", Singular = "event", Kind = "Event",
                Namespaced = true, ShortNames = ["ev"],
                Columns =
                [
                    CrdResource.DateColumn("Last Seen", ".lastTimestamp", "Time of the last occurrence", 0),
                    new("Type", "string", string.Empty, "Type of this event", 0, o => o["type"]?.DeepClone()),
                    new("Reason", "string", string.Empty, "Why the event was emitted", 0, o => o["reason"]?.DeepClone()),
                    new("Object", "string", string.Empty, "The object this event is about", 0, o => $"{o["involvedObject"]?["kind"]?.GetValue<string>()?.ToLowerInvariant()}/{o["involvedObject"]?["name"]}"),
                    new("Message", "string", string.Empty, "A human-readable description", 0, o => o["message"]?.DeepClone()),
                ],
            },
            new ResourceType
            {
                Group = "events.k8s.io", Versions = ["v1"], Plural = "events", Singular = "event", Kind = "Event",
                Namespaced = true, ShortNames = ["ev"],
                Columns =
                [
                    name,
                    new("Reason", "string", string.Empty, "Why the event was emitted", 0, o => o["reason"]?.DeepClone()),
                    new("Note", "string", string.Empty, "A human-readable description", 0, o => o["note"]?.DeepClone()),
                    age,
                ],
            },
            new ResourceType
            {
                Group = "coordination.k8s.io", Versions = ["v1"], Plural = "leases", Singular = "lease", Kind = "Lease",
                Namespaced = true,
                Columns = [name, new("Holder", "string", string.Empty, "The current holder", 0, o => o["spec"]?["holderIdentity"]?.DeepClone() ?? string.Empty), age],
            },
            new ResourceType
            {
                Group = "apiextensions.k8s.io", Versions = ["v1"], Plural = "customresourcedefinitions", Singular = "customresourcedefinition",
                Kind = "CustomResourceDefinition", Namespaced = false, ShortNames = ["crd", "crds"], HasStatusSubresource = true,
                TracksGeneration = true, Categories = ["api-extensions"],
                Columns = [name, new("Created At", "date", string.Empty, "Creation time", 0, o => o["metadata"]?["creationTimestamp"]?.DeepClone())],
            },
        ];
    }

    private static int Count(JsonNode? node) => node is JsonObject obj ? obj.Count : 0;
}
