using System.Text.Json.Nodes;
using WasmOperator.Api.Tests.Fixtures;

namespace WasmOperator.Api.Tests.Validation;

public sealed class DefaultingTests
{
    private const string Minimal = "url: oci://registry.local:5000/wasm/add_header:v1";

    [Fact]
    public void Omitted_fields_get_the_schema_defaults()
    {
        var spec = WasmPluginCrd.Validate(Minimal).Object["spec"]!;

        Assert.Equal("FAIL_CLOSE", (string?)spec["failStrategy"]);
        Assert.Equal("ENFORCE", (string?)spec["mode"]);
        Assert.Equal(67108864L, (long)spec["limits"]!["maxMemoryBytes"]!);
        Assert.Equal("100ms", (string?)spec["limits"]!["maxCallDuration"]);
    }

    [Fact]
    public void Fields_without_a_default_stay_unset()
    {
        var spec = WasmPluginCrd.Validate(Minimal).Object["spec"]!.AsObject();

        Assert.False(spec.ContainsKey("imagePullPolicy"));
        Assert.False(spec.ContainsKey("type"));
        Assert.False(spec.ContainsKey("phase"));
        Assert.False(spec.ContainsKey("rollout"));
    }

    [Fact]
    public void A_canary_gets_default_analysis_and_given_values_are_kept()
    {
        var result = WasmPluginCrd.Validate($"{Minimal}\nrollout:\n  canary:\n    steps:\n    - setWeight: 50\n    analysis:\n      failureLimit: 5");
        var analysis = result.Object["spec"]!["rollout"]!["canary"]!["analysis"]!;

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.Equal("1m", (string?)analysis["interval"]);
        Assert.Equal(100L, (long)analysis["minRequests"]!);
        Assert.Equal(0.01, (double)analysis["maxFailureRatio"]!);
        Assert.Equal(0.05, (double)analysis["maxErrorRatio"]!);
        Assert.Equal(5L, (long)analysis["failureLimit"]!);
    }

    [Fact]
    public void Explicit_values_are_not_overwritten_by_defaults()
    {
        var spec = WasmPluginCrd.Validate($"{Minimal}\nfailStrategy: FAIL_OPEN\nmode: LOG_ONLY\nlimits:\n  maxCallDuration: 20ms").Object["spec"]!;

        Assert.Equal("FAIL_OPEN", (string?)spec["failStrategy"]);
        Assert.Equal("LOG_ONLY", (string?)spec["mode"]);
        Assert.Equal("20ms", (string?)spec["limits"]!["maxCallDuration"]);
        Assert.Equal(67108864L, (long)spec["limits"]!["maxMemoryBytes"]!);
    }

    [Fact]
    public void A_null_field_that_is_not_nullable_is_defaulted_and_a_nullable_one_is_kept()
    {
        var spec = WasmPluginCrd.Validate($"{Minimal}\nfailStrategy: null\npriority: null").Object["spec"]!.AsObject();

        Assert.Equal("FAIL_CLOSE", (string?)spec["failStrategy"]);
        Assert.True(spec.ContainsKey("priority"));
        Assert.Null(spec["priority"]);
    }

    [Fact]
    public void The_input_object_is_not_modified()
    {
        var manifest = WasmPluginCrd.Manifest(Minimal + "\nunknownField: 1");
        var before = manifest.ToJsonString();

        WasmPluginCrd.Validator.Validate(manifest);

        Assert.Equal(before, manifest.ToJsonString());
    }
}
