using WasmOperator.Api.Tests.Fixtures;

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
}
