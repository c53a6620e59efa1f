using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using WasmOperator.KubeApiServer.Tests.Support;

namespace WasmOperator.KubeApiServer.Tests.WithKubectl;

/// <summary>
/// Fields the CRD schema does not declare, under each fieldValidation: kubectl (>= 1.27) asks for Strict by default,
/// kube-apiserver's own default is Warn, and Ignore prunes silently.
/// </summary>
public sealed class FieldValidationTests
{
    private const string Misspelt = """
        apiVersion: extensions.wasmoperator.io/v1alpha1
        kind: WasmPlugin
        metadata:
          name: typo
        spec:
          url: oci://registry.local/add_header:v1
          pluginconfig:
            header: hello
          failstrategy: FAIL_OPEN
        """;

    private const string Correct = """
        apiVersion: extensions.wasmoperator.io/v1alpha1
        kind: WasmPlugin
        metadata:
          name: typo
        spec:
          url: oci://registry.local/add_header:v1
          pluginConfig:
            header: hello
        """;

    private const string StrictError =
        "WasmPlugin in version \"v1alpha1\" cannot be handled as a WasmPlugin: strict decoding error: unknown field \"spec.failstrategy\", unknown field \"spec.pluginconfig\"";

    [Fact]
    public async Task Kubectl_apply_refuses_a_misspelt_field_on_create_update_and_server_side_apply()
    {
        await using var f = await StartWithWasmPluginCrdAsync();

        var create = await f.Kubectl.RunWithInputAsync(Misspelt, "apply", "-f", "-");
        var missing = await f.Kubectl.RunAsync("get", "wasmplugin", "typo");
        (await f.Kubectl.RunWithInputAsync(Correct, "apply", "-f", "-")).ShouldSucceed();
        var update = await f.Kubectl.RunWithInputAsync(Misspelt, "apply", "-f", "-");
        var serverSide = await f.Kubectl.RunWithInputAsync(Misspelt, "apply", "--server-side", "-f", "-");
        var replace = await f.Kubectl.RunWithInputAsync(Misspelt, "replace", "-f", "-");
        var stored = (await f.Kubectl.RunAsync("get", "wasmplugin", "typo", "-o", "json")).ShouldSucceed().Stdout;

        Assert.NotEqual(0, create.ExitCode);
        Assert.Contains($"Error from server (BadRequest): error when creating \"STDIN\": {StrictError}", create.Stderr, StringComparison.Ordinal);
        Assert.Contains("NotFound", missing.Stderr, StringComparison.Ordinal);
        Assert.All([update, serverSide, replace], r =>
        {
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains("(BadRequest)", r.Stderr, StringComparison.Ordinal);
            Assert.Contains(StrictError, r.Stderr, StringComparison.Ordinal);
        });
        Assert.Equal("hello", (string?)JsonNode.Parse(stored)!["spec"]!["pluginConfig"]!["header"]);
        Assert.Equal("FAIL_CLOSE", (string?)JsonNode.Parse(stored)!["spec"]!["failStrategy"]);
    }

    [Fact]
    public async Task With_validate_warn_the_write_succeeds_and_kubectl_prints_each_unknown_field()
    {
        await using var f = await StartWithWasmPluginCrdAsync();

        var applied = (await f.Kubectl.RunWithInputAsync(Misspelt, "apply", "--validate=warn", "-f", "-")).ShouldSucceed();
        var spec = JsonNode.Parse((await f.Kubectl.RunAsync("get", "wasmplugin", "typo", "-o", "jsonpath={.spec}")).ShouldSucceed().Stdout)!.AsObject();

        Assert.Contains("Warning: unknown field \"spec.failstrategy\"", applied.Stderr, StringComparison.Ordinal);
        Assert.Contains("Warning: unknown field \"spec.pluginconfig\"", applied.Stderr, StringComparison.Ordinal);
        Assert.Contains("wasmplugin.extensions.wasmoperator.io/typo created", applied.Stdout, StringComparison.Ordinal);
        Assert.False(spec.ContainsKey("pluginconfig"));
        Assert.False(spec.ContainsKey("failstrategy"));
    }

    [Fact]
    public async Task With_validate_false_the_fields_are_pruned_silently()
    {
        await using var f = await StartWithWasmPluginCrdAsync();

        var applied = (await f.Kubectl.RunWithInputAsync(Misspelt, "apply", "--validate=false", "-f", "-")).ShouldSucceed();
        var spec = JsonNode.Parse((await f.Kubectl.RunAsync("get", "wasmplugin", "typo", "-o", "jsonpath={.spec}")).ShouldSucceed().Stdout)!.AsObject();

        Assert.DoesNotContain("Warning", applied.Stderr, StringComparison.Ordinal);
        Assert.False(spec.ContainsKey("pluginconfig"));
    }

    [Fact]
    public async Task Without_the_parameter_a_write_warns_in_headers_as_kube_apiserver_defaults_to_Warn()
    {
        await using var f = await StartWithWasmPluginCrdAsync();
        using var http = new HttpClient { BaseAddress = f.Server.Url };
        const string path = "apis/extensions.wasmoperator.io/v1alpha1/namespaces/default/wasmplugins";
        var body = """{"apiVersion":"extensions.wasmoperator.io/v1alpha1","kind":"WasmPlugin","metadata":{"name":"typo"},"spec":{"url":"oci://r/x:v1","pluginconfig":{}}}""";

        using var created = await http.PostAsync(path, Json(body));
        using var unsupported = await http.PostAsync(path + "?fieldValidation=strict", Json(body.Replace("typo", "other", StringComparison.Ordinal)));

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(["299 - \"unknown field \\\"spec.pluginconfig\\\"\""], created.Headers.GetValues("Warning"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unsupported.StatusCode);
        Assert.Contains(
            "CreateOptions.meta.k8s.io \\\"\\\" is invalid: fieldValidation: Unsupported value: \\\"strict\\\"",
            await unsupported.Content.ReadAsStringAsync(),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_field_named_outside_ascii_is_warned_about_escaped_and_the_write_answers_201()
    {
        await using var f = await StartWithWasmPluginCrdAsync();
        using var http = new HttpClient { BaseAddress = f.Server.Url };
        const string path = "apis/extensions.wasmoperator.io/v1alpha1/namespaces/default/wasmplugins";
        var body = """{"apiVersion":"extensions.wasmoperator.io/v1alpha1","kind":"WasmPlugin","metadata":{"name":"cyrillic"},"spec":{"url":"oci://r/x:v1","ключ":1}}""";

        using var created = await http.PostAsync(path, Json(body));

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(["299 - \"unknown field \\\"spec.\\u043a\\u043b\\u044e\\u0447\\\"\""], created.Headers.GetValues("Warning"));
    }

    [Fact]
    public async Task A_json_body_with_a_repeated_key_keeps_the_last_value_as_go_decodes_it_and_bad_json_is_a_400()
    {
        await using var f = await StartWithWasmPluginCrdAsync();
        using var http = new HttpClient { BaseAddress = f.Server.Url };
        const string path = "apis/extensions.wasmoperator.io/v1alpha1/namespaces/default/wasmplugins";
        var body = """{"apiVersion":"extensions.wasmoperator.io/v1alpha1","kind":"WasmPlugin","metadata":{"name":"twice"},"spec":{"url":"oci://r/x:v1","url":"oci://r/x:v2"}}""";

        using var created = await http.PostAsync(path, Json(body));
        using var broken = await http.PostAsync(path, Json("""{"apiVersion":"""));
        using var stored = await http.GetAsync(path + "/twice");

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("oci://r/x:v2", JsonNode.Parse(await stored.Content.ReadAsStringAsync())!["spec"]!["url"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, broken.StatusCode);
        Assert.Contains("the request body is not valid JSON", await broken.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));

    private static async Task<ServerFixture> StartWithWasmPluginCrdAsync()
    {
        var f = await ServerFixture.StartAsync(installCrd: false);
        (await f.Kubectl.RunAsync("apply", "-f", RepoFiles.Path("crds/wasmplugin.yaml"))).ShouldSucceed();
        return f;
    }
}
