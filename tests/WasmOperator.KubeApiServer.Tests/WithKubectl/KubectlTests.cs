using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using WasmOperator.KubeApiServer.Tests.Support;

namespace WasmOperator.KubeApiServer.Tests.WithKubectl;

public sealed class KubectlTests
{
    private const string Group = "test.wasmoperator.io";

    [Fact]
    public async Task Get_prints_the_printer_columns_of_an_applied_custom_resource()
    {
        await using var f = await ServerFixture.StartAsync();
        (await f.Kubectl.RunAsync("apply", "-f", Kubectl.TestData("widget.yaml"))).ShouldSucceed();

        var table = (await f.Kubectl.RunAsync("get", "widgets")).ShouldSucceed().Stdout;
        var byShortName = (await f.Kubectl.RunAsync("get", "wd")).ShouldSucceed().Stdout;

        var lines = table.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["NAME", "URL", "REPLICAS", "READY", "AGE"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["first", "oci://registry.local/plugins/first:v1", "2", "<none>"], lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[..4]);
        Assert.Equal(lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[..4], byShortName.Split('\n')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[..4]);
    }

    [Fact]
    public async Task Get_as_yaml_shows_server_set_metadata_and_schema_defaults()
    {
        await using var f = await ServerFixture.StartAsync();
        const string manifest = """
            apiVersion: test.wasmoperator.io/v1
            kind: Widget
            metadata:
              name: defaulted
            spec:
              url: oci://registry.local/plugins/a:v1
              notInSchema: dropped
            """;
        // --validate=false (fieldValidation=Ignore): kubectl's default Strict would refuse notInSchema instead of pruning it.
        (await f.Kubectl.RunWithInputAsync(manifest, "apply", "--validate=false", "-f", "-")).ShouldSucceed();

        var yaml = (await f.Kubectl.RunAsync("get", "widget", "defaulted", "-o", "yaml")).ShouldSucceed().Stdout;
        var spec = (await f.Kubectl.RunAsync("get", "widget", "defaulted", "-o", "jsonpath={.spec}")).ShouldSucceed().Stdout;

        Assert.Contains("generation: 1", yaml, StringComparison.Ordinal);
        Assert.Matches("uid: [0-9a-f-]{36}", yaml);
        Assert.Matches("resourceVersion: \"[0-9]+\"", yaml);
        Assert.Matches("creationTimestamp: \"[0-9T:-]+Z\"", yaml);
        Assert.Contains("replicas: 1", yaml, StringComparison.Ordinal);
        Assert.Equal("""{"replicas":1,"url":"oci://registry.local/plugins/a:v1"}""", spec);
    }

    [Fact]
    public async Task Describe_prints_the_spec_labels_and_the_events_about_the_object()
    {
        await using var f = await ServerFixture.StartAsync();
        (await f.Kubectl.RunAsync("apply", "-f", Kubectl.TestData("widget.yaml"))).ShouldSucceed();
        using var client = f.Server.CreateClient();
        var uid = (await f.Kubectl.RunAsync("get", "widget", "first", "-o", "jsonpath={.metadata.uid}")).ShouldSucceed().Stdout;
        await client.CoreV1.CreateNamespacedEventAsync(
            new Corev1Event
            {
                Metadata = new V1ObjectMeta { Name = "first.loaded" },
                InvolvedObject = new V1ObjectReference { ApiVersion = $"{Group}/v1", Kind = "Widget", Name = "first", NamespaceProperty = "default", Uid = uid },
                Reason = "ModuleLoaded",
                Message = "module sha256:abc loaded by 3 proxies",
                Type = "Normal",
                Count = 1,
                FirstTimestamp = DateTime.UtcNow,
                LastTimestamp = DateTime.UtcNow,
                Source = new V1EventSource { Component = "wasm-operator" },
            },
            "default");

        var text = (await f.Kubectl.RunAsync("describe", "widget", "first")).ShouldSucceed().Stdout;

        Assert.Matches(@"Name:\s+first", text);
        Assert.Matches(@"Labels:\s+tier=edge", text);
        Assert.Matches(@"URL:\s+oci://registry.local/plugins/first:v1", text);
        Assert.Matches(@"Normal\s+ModuleLoaded\s+.*wasm-operator\s+module sha256:abc loaded by 3 proxies", text);
    }

    [Theory]
    [InlineData("apply", "Bad_Name")]
    [InlineData("apply --server-side", "ends-with-dash-")]
    [InlineData("create", "UPPER")]
    public async Task A_name_that_is_no_lowercase_RFC_1123_subdomain_is_refused_as_kube_apiserver_refuses_it(string verb, string name)
    {
        await using var f = await ServerFixture.StartAsync();
        var manifest = (await File.ReadAllTextAsync(Kubectl.TestData("widget.yaml"))).Replace("name: first", $"name: {name}", StringComparison.Ordinal);

        var result = await f.Kubectl.RunWithInputAsync(manifest, [.. verb.Split(' '), "-f", "-"]);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains($"metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters", result.Stderr, StringComparison.Ordinal);
        Assert.NotEqual(0, (await f.Kubectl.RunAsync("get", "widget", name)).ExitCode);
    }

    [Fact]
    public async Task Patch_of_the_spec_bumps_generation_and_label_does_not()
    {
        await using var f = await ServerFixture.StartAsync();
        (await f.Kubectl.RunAsync("apply", "-f", Kubectl.TestData("widget.yaml"))).ShouldSucceed();

        (await f.Kubectl.RunAsync("patch", "widget", "first", "--type=merge", "-p", """{"spec":{"replicas":5}}""")).ShouldSucceed();
        (await f.Kubectl.RunAsync("label", "widget", "first", "color=blue")).ShouldSucceed();

        var shown = (await f.Kubectl.RunAsync("get", "widget", "first", "-o", "jsonpath={.metadata.generation} {.spec.replicas} {.metadata.labels.color}")).ShouldSucceed().Stdout;
        Assert.Equal("2 5 blue", shown);
        var selected = (await f.Kubectl.RunAsync("get", "widgets", "-l", "color=blue", "-o", "name")).ShouldSucceed().Stdout;
        Assert.Equal("widget.test.wasmoperator.io/first", selected.Trim());
    }

    [Fact]
    public async Task Delete_is_held_by_a_finalizer_until_it_is_released()
    {
        await using var f = await ServerFixture.StartAsync();
        (await f.Kubectl.RunAsync("apply", "-f", Kubectl.TestData("widget.yaml"))).ShouldSucceed();
        (await f.Kubectl.RunAsync("patch", "widget", "first", "--type=merge", "-p", """{"metadata":{"finalizers":["test.wasmoperator.io/hold"]}}""")).ShouldSucceed();

        (await f.Kubectl.RunAsync("delete", "widget", "first", "--wait=false")).ShouldSucceed();
        var held = (await f.Kubectl.RunAsync("get", "widget", "first", "-o", "jsonpath={.metadata.deletionTimestamp}")).ShouldSucceed().Stdout;
        (await f.Kubectl.RunAsync("patch", "widget", "first", "--type=json", "-p", """[{"op":"remove","path":"/metadata/finalizers"}]""")).ShouldSucceed();
        var gone = await f.Kubectl.RunAsync("get", "widget", "first");

        Assert.Matches("^[0-9T:-]+Z$", held);
        Assert.NotEqual(0, gone.ExitCode);
        Assert.Contains("widgets.test.wasmoperator.io \"first\" not found", gone.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wait_for_condition_returns_once_the_status_says_ready()
    {
        await using var f = await ServerFixture.StartAsync();
        (await f.Kubectl.RunAsync("apply", "-f", Kubectl.TestData("widget.yaml"))).ShouldSucceed();
        using var wait = f.Kubectl.Start("wait", "--for=condition=Ready", "widget/first", "--timeout=60s");
        var waited = wait.WaitForExitAsync();
        Assert.False(waited.IsCompleted);

        using var client = f.Server.CreateClient();
        var status = new JsonObject { ["status"] = new JsonObject { ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = "True", ["reason"] = "Loaded" }) } };
        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(status.ToJsonString(), V1Patch.PatchType.MergePatch), Group, "v1", "default", "widgets", "first");
        await waited;

        var table = (await f.Kubectl.RunAsync("get", "widget", "first")).ShouldSucceed().Stdout;

        Assert.Equal(0, wait.ExitCode);
        Assert.Contains("condition met", await wait.StandardOutput.ReadToEndAsync(), StringComparison.Ordinal);
        Assert.Equal("True", table.Split('\n')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[3]);
    }

    [Fact]
    public async Task Get_watch_prints_a_row_for_each_change()
    {
        await using var f = await ServerFixture.StartAsync();
        (await f.Kubectl.RunAsync("apply", "-f", Kubectl.TestData("widget.yaml"))).ShouldSucceed();
        using var watch = f.Kubectl.Start("get", "widgets", "-w");
        try
        {
            var header = await watch.StandardOutput.ReadLineAsync();
            var initial = await watch.StandardOutput.ReadLineAsync();
            (await f.Kubectl.RunAsync("patch", "widget", "first", "--type=merge", "-p", """{"spec":{"replicas":7}}""")).ShouldSucceed();
            var changed = await watch.StandardOutput.ReadLineAsync();

            Assert.StartsWith("NAME", header, StringComparison.Ordinal);
            Assert.Equal("2", initial!.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2]);
            Assert.Equal("7", changed!.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2]);
        }
        finally
        {
            watch.Kill();
        }
    }

    [Fact]
    public async Task Apply_server_side_records_the_manager_and_reports_conflicts_with_another()
    {
        await using var f = await ServerFixture.StartAsync();
        (await f.Kubectl.RunAsync("apply", "--server-side", "-f", Kubectl.TestData("widget.yaml"))).ShouldSucceed();
        var managers = (await f.Kubectl.RunAsync("get", "widget", "first", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}/{.metadata.managedFields[*].operation}")).ShouldSucceed().Stdout;

        const string other = """
            apiVersion: test.wasmoperator.io/v1
            kind: Widget
            metadata:
              name: first
            spec:
              replicas: 9
            """;
        var conflict = await f.Kubectl.RunWithInputAsync(other, "apply", "--server-side", "--field-manager=rollout", "-f", "-");
        var forced = await f.Kubectl.RunWithInputAsync(other, "apply", "--server-side", "--field-manager=rollout", "--force-conflicts", "-f", "-");
        var replicas = (await f.Kubectl.RunAsync("get", "widget", "first", "-o", "jsonpath={.spec.replicas}")).ShouldSucceed().Stdout;

        Assert.Equal("kubectl/Apply", managers);
        Assert.NotEqual(0, conflict.ExitCode);
        Assert.Contains("conflict with \"kubectl\"", conflict.Stderr, StringComparison.Ordinal);
        Assert.Contains(".spec.replicas", conflict.Stderr, StringComparison.Ordinal);
        forced.ShouldSucceed();
        Assert.Equal("9", replicas);
    }

    [Fact]
    public async Task Applying_an_invalid_manifest_prints_the_field_errors()
    {
        await using var f = await ServerFixture.StartAsync();
        const string invalid = """
            apiVersion: test.wasmoperator.io/v1
            kind: Widget
            metadata:
              name: broken
            spec:
              replicas: -1
            """;

        var result = await f.Kubectl.RunWithInputAsync(invalid, "apply", "-f", "-");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("The Widget \"broken\" is invalid", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("spec.url: Required value", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("spec.replicas: Invalid value: -1", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_side_apply_of_built_in_kinds_updates_in_place()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        const string v1 = """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: settings
            data:
              a: "1"
              b: "2"
            """;
        const string v2 = """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: settings
            data:
              a: "10"
            """;
        (await f.Kubectl.RunWithInputAsync(v1, "apply", "-f", "-")).ShouldSucceed();
        var second = (await f.Kubectl.RunWithInputAsync(v2, "apply", "-f", "-")).ShouldSucceed().Stdout;

        var data = (await f.Kubectl.RunAsync("get", "configmap", "settings", "-o", "jsonpath={.data}")).ShouldSucceed().Stdout;
        var table = (await f.Kubectl.RunAsync("get", "cm")).ShouldSucceed().Stdout;

        Assert.Contains("configured", second, StringComparison.Ordinal);
        Assert.Equal("""{"a":"10"}""", data);
        Assert.Matches(@"settings\s+1\s+", table);
    }

    [Fact]
    public async Task Create_configmap_secret_and_namespace_generators_work_with_their_protobuf_bodies()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);

        (await f.Kubectl.RunAsync("create", "namespace", "plugins")).ShouldSucceed();
        (await f.Kubectl.RunAsync("create", "configmap", "settings", "-n", "plugins", "--from-literal=mode=ENFORCE")).ShouldSucceed();
        (await f.Kubectl.RunAsync("create", "secret", "docker-registry", "pull", "-n", "plugins", "--docker-server=registry.local:5000", "--docker-username=u", "--docker-password=p")).ShouldSucceed();
        (await f.Kubectl.RunAsync("create", "secret", "generic", "plain", "-n", "plugins", "--from-literal=token=t")).ShouldSucceed();

        var data = (await f.Kubectl.RunAsync("get", "configmap", "settings", "-n", "plugins", "-o", "jsonpath={.data.mode}")).ShouldSucceed().Stdout;
        var types = (await f.Kubectl.RunAsync("get", "secrets", "-n", "plugins", "-o", "jsonpath={.items[*].type}")).ShouldSucceed().Stdout;
        var dockerConfig = (await f.Kubectl.RunAsync("get", "secret", "pull", "-n", "plugins", "-o", "jsonpath={.data.\\.dockerconfigjson}")).ShouldSucceed().Stdout;

        Assert.Equal("ENFORCE", data);
        Assert.Equal("Opaque kubernetes.io/dockerconfigjson", types);
        Assert.Contains("registry.local:5000", System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(dockerConfig)), StringComparison.Ordinal);
    }
}
