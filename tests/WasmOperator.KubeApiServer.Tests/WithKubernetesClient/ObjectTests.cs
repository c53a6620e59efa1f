using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using WasmOperator.KubeApiServer.Tests.Support;

namespace WasmOperator.KubeApiServer.Tests.WithKubernetesClient;

public sealed class ObjectTests
{
    private const string Group = "test.wasmoperator.io";

    [Fact]
    public async Task Update_with_a_stale_resourceVersion_is_a_409_conflict()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        using var client = f.Server.CreateClient();
        var created = await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("cm"), "default");
        var stale = await client.CoreV1.ReadNamespacedConfigMapAsync("cm", "default");
        created.Data["key"] = "first";
        var updated = await client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "cm", "default");

        stale.Data["key"] = "second";
        var error = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReplaceNamespacedConfigMapAsync(stale, "cm", "default"));

        var status = Status(error);
        Assert.Equal(HttpStatusCode.Conflict, error.Response.StatusCode);
        Assert.Equal("Conflict", status["reason"]!.GetValue<string>());
        Assert.Equal("Operation cannot be fulfilled on configmaps \"cm\": the object has been modified; please apply your changes to the latest version and try again", status["message"]!.GetValue<string>());
        Assert.NotEqual(created.Metadata.ResourceVersion, updated.Metadata.ResourceVersion);
        Assert.Equal("first", (await client.CoreV1.ReadNamespacedConfigMapAsync("cm", "default")).Data["key"]);
    }

    [Fact]
    public async Task Creating_an_existing_name_is_409_AlreadyExists_and_a_missing_name_is_404()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        using var client = f.Server.CreateClient();
        await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("cm"), "default");

        var duplicate = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("cm"), "default"));
        var missing = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReadNamespacedConfigMapAsync("nope", "default"));
        var noNamespace = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("cm"), "absent"));

        Assert.Equal(HttpStatusCode.Conflict, duplicate.Response.StatusCode);
        Assert.Equal("AlreadyExists", Status(duplicate)["reason"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, missing.Response.StatusCode);
        Assert.Equal("configmaps \"nope\" not found", Status(missing)["message"]!.GetValue<string>());
        Assert.Equal("namespaces \"absent\" not found", Status(noNamespace)["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Status_subresource_changes_only_status_and_generation_follows_the_spec()
    {
        await using var f = await ServerFixture.StartAsync();
        using var client = f.Server.CreateClient();
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(Widget("w", "oci://r/a:v1"), Group, "v1", "default", "widgets");

        var ignoredStatus = new JsonObject { ["spec"] = new JsonObject { ["url"] = "oci://r/a:v2" }, ["status"] = new JsonObject { ["phase"] = "Ignored" } };
        await client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch(ignoredStatus.ToJsonString(), V1Patch.PatchType.MergePatch), Group, "v1", "default", "widgets", "w");
        var ignoredSpec = new JsonObject { ["spec"] = new JsonObject { ["url"] = "oci://r/a:v3" }, ["status"] = new JsonObject { ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = "True" }) } };
        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(new V1Patch(ignoredSpec.ToJsonString(), V1Patch.PatchType.MergePatch), Group, "v1", "default", "widgets", "w");
        var stored = Json(await client.CustomObjects.GetNamespacedCustomObjectAsync(Group, "v1", "default", "widgets", "w"));

        Assert.Equal("oci://r/a:v2", stored["spec"]!["url"]!.GetValue<string>());
        Assert.Null(stored["status"]!["phase"]);
        Assert.Equal("Ready", stored["status"]!["conditions"]![0]!["type"]!.GetValue<string>());
        Assert.Equal(2, stored["metadata"]!["generation"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_json_patch_that_adds_status_creates_it_and_then_replaces_it_whole()
    {
        await using var f = await ServerFixture.StartAsync();
        using var client = f.Server.CreateClient();
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(Widget("w", "oci://r/a:v1"), Group, "v1", "default", "widgets");
        static V1Patch AddStatus(JsonObject status) =>
            new(new JsonArray(new JsonObject { ["op"] = "add", ["path"] = "/status", ["value"] = status }).ToJsonString(), V1Patch.PatchType.JsonPatch);
        static JsonObject Conditions(JsonObject condition) => new() { ["conditions"] = new JsonArray(condition) };

        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(AddStatus(Conditions(new JsonObject { ["type"] = "Ready", ["status"] = "True", ["reason"] = "Old", ["message"] = "old" })), Group, "v1", "default", "widgets", "w");
        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(AddStatus(Conditions(new JsonObject { ["type"] = "Ready", ["status"] = "False" })), Group, "v1", "default", "widgets", "w");
        var stored = Json(await client.CustomObjects.GetNamespacedCustomObjectAsync(Group, "v1", "default", "widgets", "w"));

        Assert.Equal("""{"conditions":[{"type":"Ready","status":"False"}]}""", stored["status"]!.ToJsonString());
        Assert.Equal("oci://r/a:v1", stored["spec"]!["url"]!.GetValue<string>());
    }

    [Fact]
    public async Task Server_side_apply_of_status_sets_only_status_and_needs_the_object_to_exist()
    {
        await using var f = await ServerFixture.StartAsync();
        using var client = f.Server.CreateClient();
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(Widget("w", "oci://r/a:v1"), Group, "v1", "default", "widgets");
        var status = new JsonObject
        {
            ["apiVersion"] = $"{Group}/v1",
            ["kind"] = "Widget",
            ["metadata"] = new JsonObject { ["name"] = "w" },
            ["spec"] = new JsonObject { ["url"] = "oci://r/ignored:v9" },
            ["status"] = new JsonObject { ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = "True" }) },
        };

        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(new V1Patch(status.ToJsonString(), V1Patch.PatchType.ApplyPatch), Group, "v1", "default", "widgets", "w", fieldManager: "wasm-operator", force: true);
        var missing = await Assert.ThrowsAsync<HttpOperationException>(() => client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(status.ToJsonString().Replace("\"w\"", "\"absent\"", StringComparison.Ordinal), V1Patch.PatchType.ApplyPatch), Group, "v1", "default", "widgets", "absent", fieldManager: "wasm-operator"));
        var stored = Json(await client.CustomObjects.GetNamespacedCustomObjectAsync(Group, "v1", "default", "widgets", "w"));

        Assert.Equal("True", stored["status"]!["conditions"]![0]!["status"]!.GetValue<string>());
        Assert.Equal("oci://r/a:v1", stored["spec"]!["url"]!.GetValue<string>());
        Assert.Equal(1, stored["metadata"]!["generation"]!.GetValue<long>());
        Assert.Contains(stored["metadata"]!["managedFields"]!.AsArray(), m => m!["manager"]!.GetValue<string>() == "wasm-operator" && m["subresource"]?.GetValue<string>() == "status");
        Assert.Equal(HttpStatusCode.NotFound, missing.Response.StatusCode);
    }

    [Fact]
    public async Task Invalid_custom_resources_are_rejected_with_422_and_field_causes()
    {
        await using var f = await ServerFixture.StartAsync();
        using var client = f.Server.CreateClient();
        var widget = Widget("bad", string.Empty);

        var error = await Assert.ThrowsAsync<HttpOperationException>(() => client.CustomObjects.CreateNamespacedCustomObjectAsync(widget, Group, "v1", "default", "widgets"));

        var status = Status(error);
        Assert.Equal((HttpStatusCode)422, error.Response.StatusCode);
        Assert.Equal("Invalid", status["reason"]!.GetValue<string>());
        Assert.Contains(status["details"]!["causes"]!.AsArray(), c => c!["field"]!.GetValue<string>() == "spec.url");
    }

    [Fact]
    public async Task Server_side_apply_creates_then_conflicts_with_another_manager_unless_forced()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        using var client = f.Server.CreateClient();
        // KubernetesClient sends apply patches as JSON (a subset of YAML), as KubernetesJson.Serialize produces them.
        var mine = AppliedConfigMap(("owned", "1"), ("shared", "a"));
        var theirs = AppliedConfigMap(("shared", "b"));
        var mineWithoutOwned = AppliedConfigMap(("shared", "a"));

        var created = await client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(mine, V1Patch.PatchType.ApplyPatch), "applied", "default", fieldManager: "operator");
        var conflict = await Assert.ThrowsAsync<HttpOperationException>(() =>
            client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(theirs, V1Patch.PatchType.ApplyPatch), "applied", "default", fieldManager: "rollout"));
        await client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(theirs, V1Patch.PatchType.ApplyPatch), "applied", "default", fieldManager: "rollout", force: true);
        var afterDrop = await client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(mineWithoutOwned, V1Patch.PatchType.ApplyPatch), "applied", "default", fieldManager: "operator", force: true);

        Assert.Equal("a", created.Data["shared"]);
        Assert.Equal(HttpStatusCode.Conflict, conflict.Response.StatusCode);
        Assert.Contains("conflict with \"operator\"", Status(conflict)["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(".data.shared", Status(conflict)["details"]!["causes"]![0]!["field"]!.GetValue<string>());
        Assert.False(afterDrop.Data.ContainsKey("owned"));
        Assert.Equal("a", afterDrop.Data["shared"]);
        Assert.Contains(afterDrop.Metadata.ManagedFields, m => m.Manager == "operator" && m.Operation == "Apply");
    }

    [Fact]
    public async Task A_delete_held_by_a_finalizer_refuses_new_finalizers_and_completes_when_the_last_is_removed()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        using var client = f.Server.CreateClient();
        var held = ConfigMap("held");
        held.Metadata.Finalizers = ["test.wasmoperator.io/cleanup"];
        await client.CoreV1.CreateNamespacedConfigMapAsync(held, "default");

        await client.CoreV1.DeleteNamespacedConfigMapAsync("held", "default");
        var marked = await client.CoreV1.ReadNamespacedConfigMapAsync("held", "default");
        var refused = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.PatchNamespacedConfigMapAsync(
            new V1Patch("""{"metadata":{"finalizers":["test.wasmoperator.io/cleanup","late/one"]}}""", V1Patch.PatchType.MergePatch), "held", "default"));
        await client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch("""{"metadata":{"finalizers":null}}""", V1Patch.PatchType.MergePatch), "held", "default");
        var gone = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReadNamespacedConfigMapAsync("held", "default"));

        Assert.NotNull(marked.Metadata.DeletionTimestamp);
        Assert.Equal((HttpStatusCode)422, refused.Response.StatusCode);
        Assert.Contains("no new finalizers can be added if the object is being deleted", Status(refused)["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, gone.Response.StatusCode);
    }

    [Fact]
    public async Task A_secrets_stringData_is_stored_as_base64_data_and_overrides_the_same_key()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        using var client = f.Server.CreateClient();

        await client.CoreV1.CreateNamespacedSecretAsync(
            new V1Secret
            {
                Metadata = new V1ObjectMeta { Name = "creds" },
                Data = new Dictionary<string, byte[]> { ["user"] = "old"u8.ToArray(), ["kept"] = "k"u8.ToArray() },
                StringData = new Dictionary<string, string> { ["user"] = "alice" },
            },
            "default");

        var stored = await client.CoreV1.ReadNamespacedSecretAsync("creds", "default");
        Assert.Null(stored.StringData);
        Assert.Equal("alice", System.Text.Encoding.UTF8.GetString(stored.Data["user"]));
        Assert.Equal("k", System.Text.Encoding.UTF8.GetString(stored.Data["kept"]));
    }

    [Fact]
    public async Task Leases_and_both_event_apis_are_served()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        using var client = f.Server.CreateClient();

        var lease = await client.CoordinationV1.CreateNamespacedLeaseAsync(
            new V1Lease { Metadata = new V1ObjectMeta { Name = "leader" }, Spec = new V1LeaseSpec { HolderIdentity = "pod-a", LeaseDurationSeconds = 15 } }, "default");
        lease.Spec.HolderIdentity = "pod-b";
        var renewed = await client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, "leader", "default");
        await client.CoreV1.CreateNamespacedEventAsync(
            new Corev1Event { Metadata = new V1ObjectMeta { Name = "e1" }, InvolvedObject = new V1ObjectReference { Kind = "Widget", Name = "w" }, Reason = "Loaded", Message = "ok", Type = "Normal" }, "default");
        await client.EventsV1.CreateNamespacedEventAsync(
            new Eventsv1Event { Metadata = new V1ObjectMeta { Name = "e2" }, Reason = "Loaded", Note = "ok", Type = "Normal", EventTime = DateTime.UtcNow, ReportingController = "test", ReportingInstance = "test", Action = "Load" }, "default");

        var byObject = await client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: "involvedObject.name=w,involvedObject.kind=Widget");
        var modern = await client.EventsV1.ListNamespacedEventAsync("default");
        Assert.Equal("pod-b", renewed.Spec.HolderIdentity);
        Assert.Equal("e1", Assert.Single(byObject.Items).Metadata.Name);
        Assert.Equal("e2", Assert.Single(modern.Items).Metadata.Name);
    }

    private static string AppliedConfigMap(params (string Key, string Value)[] data) => new JsonObject
    {
        ["apiVersion"] = "v1",
        ["kind"] = "ConfigMap",
        ["metadata"] = new JsonObject { ["name"] = "applied" },
        ["data"] = new JsonObject(data.Select(d => KeyValuePair.Create(d.Key, (JsonNode?)d.Value))),
    }.ToJsonString();

    private static V1ConfigMap ConfigMap(string name) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Data = new Dictionary<string, string> { ["key"] = name },
    };

    private static JsonObject Widget(string name, string url) => new()
    {
        ["apiVersion"] = $"{Group}/v1",
        ["kind"] = "Widget",
        ["metadata"] = new JsonObject { ["name"] = name },
        ["spec"] = url.Length == 0 ? new JsonObject() : new JsonObject { ["url"] = url },
    };

    private static JsonObject Json(object value) => JsonNode.Parse(JsonSerializer.Serialize(value))!.AsObject();

    private static JsonObject Status(HttpOperationException error) => JsonNode.Parse(error.Response.Content)!.AsObject();
}
