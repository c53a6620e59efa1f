using System.Text.Json.Nodes;
using WasmOperator.Api.Schema;
using WasmOperator.Api.Tests.Fixtures;
using WasmOperator.Api.WasmPlugins;

namespace WasmOperator.Api.Tests.Schema;

public sealed class CrdGeneratorTests
{
    [Fact]
    public void Checked_in_CRD_equals_what_the_generator_produces()
    {
        var checkedIn = File.ReadAllText(Repo.PathOf("crds/wasmplugin.yaml")).ReplaceLineEndings("\n");
        var generated = CrdGenerator.GenerateYaml(typeof(WasmPlugin)).ReplaceLineEndings("\n");

        Assert.True(checkedIn == generated,
            "crds/wasmplugin.yaml is out of date with the C# types in crds/WasmOperator.Api; run `make crds` and commit the result.");
    }

    [Fact]
    public void CRD_names_the_resource_with_short_name_category_and_status_subresource()
    {
        var spec = WasmPluginCrd.Crd["spec"]!;
        var version = spec["versions"]![0]!;

        Assert.Equal("wasmplugins.extensions.wasmoperator.io", (string?)WasmPluginCrd.Crd["metadata"]!["name"]);
        Assert.Equal("extensions.wasmoperator.io", (string?)spec["group"]);
        Assert.Equal("Namespaced", (string?)spec["scope"]);
        Assert.Equal("WasmPlugin", (string?)spec["names"]!["kind"]);
        Assert.Equal("wasmplugins", (string?)spec["names"]!["plural"]);
        Assert.Equal(["wp"], spec["names"]!["shortNames"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(["wasm"], spec["names"]!["categories"]!.AsArray().Select(n => (string?)n));
        Assert.Equal("v1alpha1", (string?)version["name"]);
        Assert.True((bool)version["served"]! && (bool)version["storage"]!);
        Assert.NotNull(version["subresources"]!["status"]);
        Assert.Equal(["spec"], WasmPluginCrd.Schema["required"]!.AsArray().Select(n => (string?)n));
    }

    [Fact]
    public void Printer_columns_are_ready_phase_weight_workloads_and_age()
    {
        var columns = WasmPluginCrd.Crd["spec"]!["versions"]![0]!["additionalPrinterColumns"]!.AsArray();

        Assert.Equal(
            [
                ("Ready", ".status.conditions[?(@.type==\"Ready\")].status"),
                ("Phase", ".status.rollout.phase"),
                ("Weight", ".status.rollout.weight"),
                ("Workloads", ".status.workloads.summary"),
                ("Age", ".metadata.creationTimestamp"),
            ],
            columns.Select(c => ((string)c!["name"]!, (string)c["jsonPath"]!)));
        Assert.Equal("date", (string?)columns[4]!["type"]);
    }

    [Fact]
    public void Schema_is_structural_every_field_has_a_type()
    {
        var untyped = new List<string>();
        CheckTyped(WasmPluginCrd.Schema, "openAPIV3Schema", untyped);

        Assert.Empty(untyped);
    }

    [Fact]
    public void Plugin_config_preserves_unknown_fields_and_env_is_a_map_keyed_by_name()
    {
        var spec = WasmPluginCrd.Schema["properties"]!["spec"]!["properties"]!;
        var env = spec["vmConfig"]!["properties"]!["env"]!;

        Assert.Equal("object", (string?)spec["pluginConfig"]!["type"]);
        Assert.True((bool)spec["pluginConfig"]!["x-kubernetes-preserve-unknown-fields"]!);
        Assert.Equal("map", (string?)env["x-kubernetes-list-type"]);
        Assert.Equal(["name"], env["x-kubernetes-list-map-keys"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(["name"], env["items"]!["required"]!.AsArray().Select(n => (string?)n));
    }

    [Fact]
    public void Enums_use_Istio_values_in_declaration_order()
    {
        var spec = WasmPluginCrd.Schema["properties"]!["spec"]!["properties"]!;

        Assert.Equal(["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"], spec["phase"]!["enum"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"], spec["failStrategy"]!["enum"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(["UNSPECIFIED_POLICY", "IfNotPresent", "Always"], spec["imagePullPolicy"]!["enum"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(["UNSPECIFIED_PLUGIN_TYPE", "HTTP", "NETWORK"], spec["type"]!["enum"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(["INLINE", "HOST"], spec["vmConfig"]!["properties"]!["env"]!["items"]!["properties"]!["valueFrom"]!["enum"]!.AsArray().Select(n => (string?)n));
    }

    [Fact]
    public void Descriptions_come_from_the_XML_docs()
    {
        var url = WasmPluginCrd.Schema["properties"]!["spec"]!["properties"]!["url"]!;

        Assert.StartsWith("Where the module is", (string?)url["description"], StringComparison.Ordinal);
    }

    private static void CheckTyped(JsonNode? node, string path, List<string> untyped)
    {
        if (node is not JsonObject schema)
        {
            return;
        }

        if (schema["type"] is null && schema["x-kubernetes-preserve-unknown-fields"] is null && schema["x-kubernetes-int-or-string"] is null)
        {
            untyped.Add(path);
        }

        if (schema["properties"] is JsonObject properties)
        {
            foreach (var (name, child) in properties)
            {
                CheckTyped(child, $"{path}.{name}", untyped);
            }
        }

        CheckTyped(schema["items"], path + "[]", untyped);
        CheckTyped(schema["additionalProperties"], path + "{}", untyped);
    }
}
