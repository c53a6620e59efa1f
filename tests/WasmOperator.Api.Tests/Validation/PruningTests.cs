using System.Text.Json.Nodes;
using WasmOperator.Api.Tests.Fixtures;
using WasmOperator.Validation;

namespace WasmOperator.Api.Tests.Validation;

public sealed class PruningTests
{
    [Fact]
    public void Unknown_spec_fields_are_dropped_silently()
    {
        var result = WasmPluginCrd.Validate("url: oci://r/add_header:v1\nreplicas: 3\nvmConfig:\n  env:\n  - {name: A, value: x, secret: true}");
        var spec = result.Object["spec"]!.AsObject();

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.False(spec.ContainsKey("replicas"));
        Assert.False(spec["vmConfig"]!["env"]![0]!.AsObject().ContainsKey("secret"));
        Assert.Equal("x", (string?)spec["vmConfig"]!["env"]![0]!["value"]);
    }

    [Fact]
    public void Unknown_fields_inside_pluginConfig_are_kept_at_any_depth()
    {
        var result = WasmPluginCrd.Validate("url: oci://r/auth:v1\npluginConfig:\n  cluster: authz\n  nested:\n    deeper:\n      list: [1, {x: y}]");
        var config = result.Object["spec"]!["pluginConfig"]!;

        Assert.Equal("authz", (string?)config["cluster"]);
        Assert.Equal("y", (string?)config["nested"]!["deeper"]!["list"]![1]!["x"]);
    }

    [Fact]
    public void Metadata_and_top_level_fields_are_kept_and_unknown_top_level_fields_dropped()
    {
        var manifest = WasmPluginCrd.Manifest("url: oci://r/x:v1");
        manifest["metadata"]!["labels"] = new System.Text.Json.Nodes.JsonObject { ["team"] = "a" };
        manifest["extra"] = "dropped";

        var pruned = WasmPluginCrd.Validator.Validate(manifest).Object;

        Assert.Equal("a", (string?)pruned["metadata"]!["labels"]!["team"]);
        Assert.Equal("extensions.wasmoperator.io/v1alpha1", (string?)pruned["apiVersion"]);
        Assert.False(pruned.ContainsKey("extra"));
    }

    [Fact]
    public void Unknown_status_fields_are_dropped()
    {
        var manifest = WasmPluginCrd.Manifest("url: oci://r/x:v1");
        manifest["status"] = new System.Text.Json.Nodes.JsonObject { ["observedGeneration"] = 2, ["bogus"] = true };

        var status = WasmPluginCrd.Validator.Validate(manifest).Object["status"]!.AsObject();

        Assert.Equal(2, (int)status["observedGeneration"]!);
        Assert.False(status.ContainsKey("bogus"));
    }

    [Fact]
    public void The_paths_of_dropped_fields_are_reported_as_kube_reports_them_and_kept_fields_are_not()
    {
        var result = WasmPluginCrd.Validate(
            "url: oci://r/x:v1\npluginconfig: {a: 1}\nfailstrategy: FAIL_OPEN\nselector:\n  matchLabels: {app: shop}\n"
            + "vmConfig:\n  env:\n  - {name: A, value: x}\n  - {name: B, valu: y}\npluginConfig:\n  anything: {goes: here}");

        Assert.Equal(["spec.failstrategy", "spec.pluginconfig", "spec.vmConfig.env[1].valu"], result.PrunedFields);
    }

    [Fact]
    public void Map_values_embedded_resources_and_preserved_subtrees_are_walked_as_kube_walks_them()
    {
        var schema = JsonNode.Parse("""
            {"type": "object", "properties": {"spec": {"type": "object", "properties": {
              "ports": {"type": "object", "additionalProperties": {"type": "object", "properties": {"port": {"type": "integer"}}}},
              "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}},
              "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"known": {"type": "object"}}}
            }}}}
            """)!;
        var obj = JsonNode.Parse("""
            {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n"}, "spec": {
              "ports": {"http": {"port": 80, "prot": "TCP"}},
              "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}}, "spec": {}, "extra": 1},
              "free": {"kept": 1, "known": {"dropped": 2}}
            }}
            """)!.AsObject();

        var result = CrdSchemaValidator.FromSchema(schema).Validate(obj);

        Assert.Equal(["spec.free.known.dropped", "spec.ports.http.prot", "spec.template.extra"], result.PrunedFields);
        Assert.Equal(1, (int)result.Object["spec"]!["free"]!["kept"]!);
        Assert.Equal("b", (string?)result.Object["spec"]!["template"]!["metadata"]!["labels"]!["a"]);
    }
}
