using System.Text.Json.Nodes;
using WasmOperator.Api.Tests.Fixtures;
using WasmOperator.Validation;

namespace WasmOperator.Api.Tests.Validation;

public sealed class InvalidStatusTests
{
    [Fact]
    public void A_single_error_becomes_a_422_status_without_brackets()
    {
        var errors = WasmPluginCrd.Validate("pluginName: add_header").Errors;

        var status = InvalidStatus.Build("WasmPlugin", "extensions.wasmoperator.io", "add-header", errors);

        Assert.Equal("Status", (string?)status["kind"]);
        Assert.Equal("v1", (string?)status["apiVersion"]);
        Assert.Equal("Failure", (string?)status["status"]);
        Assert.Equal("Invalid", (string?)status["reason"]);
        Assert.Equal(422, (int)status["code"]!);
        Assert.Equal("WasmPlugin.extensions.wasmoperator.io \"add-header\" is invalid: spec.url: Required value", (string?)status["message"]);
        var details = status["details"]!;
        Assert.Equal("add-header", (string?)details["name"]);
        Assert.Equal("extensions.wasmoperator.io", (string?)details["group"]);
        Assert.Equal("WasmPlugin", (string?)details["kind"]);
        Assert.True(JsonNode.DeepEquals(
            new JsonArray(new JsonObject { ["reason"] = "FieldValueRequired", ["message"] = "Required value", ["field"] = "spec.url" }),
            details["causes"]));
    }

    [Fact]
    public void Several_errors_are_listed_in_brackets_with_one_cause_each()
    {
        var errors = WasmPluginCrd.Validate("url: ftp://x/y\nphase: LATE").Errors;

        var status = InvalidStatus.Build("WasmPlugin", "extensions.wasmoperator.io", "p", errors);

        Assert.Equal(
            "WasmPlugin.extensions.wasmoperator.io \"p\" is invalid: [spec.phase: Unsupported value: \"LATE\": supported values: \"UNSPECIFIED_PHASE\", \"AUTHN\", \"AUTHZ\", \"STATS\", spec.url: Invalid value: \"string\": url must have schema one of [http, https, file, oci]]",
            (string?)status["message"]);
        var causes = status["details"]!["causes"]!.AsArray();
        Assert.Equal(["FieldValueNotSupported", "FieldValueInvalid"], causes.Select(c => (string?)c!["reason"]));
        Assert.Equal(["spec.phase", "spec.url"], causes.Select(c => (string?)c!["field"]));
    }

    [Fact]
    public void The_core_group_is_left_out_of_the_qualified_kind()
    {
        var status = InvalidStatus.Build("ConfigMap", "", "c", [new FieldError("data", FieldErrorReasons.Required, "", null)]);

        Assert.Equal("ConfigMap \"c\" is invalid: data: Required value", (string?)status["message"]);
    }
}
