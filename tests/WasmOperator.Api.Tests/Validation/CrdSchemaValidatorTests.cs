using System.Text.Json.Nodes;
using WasmOperator.Validation;

namespace WasmOperator.Api.Tests.Validation;

/// <summary>The validator is generic: these use a made-up schema that has nothing to do with WasmPlugin.</summary>
public sealed class CrdSchemaValidatorTests
{
    private static readonly CrdSchemaValidator Validator = CrdSchemaValidator.FromSchema(JsonNode.Parse("""
        {
          "type": "object",
          "properties": {
            "spec": {
              "type": "object",
              "x-kubernetes-validations": [
                { "rule": "self.replicas <= 10", "messageExpression": "'replicas ' + string(self.replicas) + ' is more than 10'" },
                { "rule": "!has(self.owner) || self.owner.lowerAscii() != 'root'", "message": "root may not own this", "reason": "FieldValueForbidden", "fieldPath": ".owner" },
                { "rule": "self.ports.map(p, p.port).filter(x, x < 1024).size() <= 1", "message": "at most one privileged port" },
                { "rule": "self.ports.exists_one(p, p.primary)", "message": "exactly one primary port" },
                { "rule": "duration(self.timeout) < duration('1h') && self.timeout.split('m').size() <= 2", "message": "timeout below 1h" },
                { "rule": "self.replicas / 2 * 2 == self.replicas ? true : self.tags.size() > 0", "message": "odd replicas need tags" },
                { "rule": "self.missing == 'x'", "message": "never shown" }
              ],
              "properties": {
                "name": { "type": "string", "x-kubernetes-validations": [ { "rule": "self == oldSelf", "message": "name is immutable" } ] },
                "owner": { "type": "string" },
                "replicas": { "type": "integer", "minimum": 1, "default": 2 },
                "ratio": { "type": "number", "maximum": 1, "exclusiveMaximum": true },
                "timeout": { "type": "string", "default": "30s" },
                "tags": { "type": "array", "items": { "type": "string" }, "x-kubernetes-list-type": "set", "minItems": 0 },
                "labels": { "type": "object", "additionalProperties": { "type": "string" }, "maxProperties": 2 },
                "port": { "x-kubernetes-int-or-string": true },
                "ports": {
                  "type": "array", "minItems": 1, "default": [ { "port": 8080, "primary": true } ],
                  "items": { "type": "object", "properties": { "port": { "type": "integer" }, "primary": { "type": "boolean", "default": false } } }
                },
                "note": { "type": "string", "nullable": true }
              }
            }
          }
        }
        """)!);

    [Fact]
    public void A_valid_object_passes_with_defaults_filled_in_inside_default_values()
    {
        var result = Validate("""{"spec":{"name":"a","replicas":2}}""");

        Assert.DoesNotContain(result.Errors, e => !e.Detail.Contains("missing", StringComparison.Ordinal));
        Assert.Equal("30s", (string?)result.Object["spec"]!["timeout"]);
        Assert.Equal(8080, (int)result.Object["spec"]!["ports"]![0]!["port"]!);
    }

    [Fact]
    public void A_rule_that_reads_a_missing_field_is_reported_as_an_evaluation_error()
    {
        var result = Validate("""{"spec":{}}""");

        Assert.Equal(["spec: Invalid value: \"object\": no such key: missing"], result.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void Message_expressions_are_evaluated()
    {
        Assert.Contains("spec: Invalid value: \"object\": replicas 12 is more than 10", Messages("""{"spec":{"replicas":12}}"""));
    }

    [Fact]
    public void Rule_reason_and_field_path_are_honoured()
    {
        Assert.Contains("spec.owner: Forbidden: root may not own this", Messages("""{"spec":{"owner":"Root"}}"""));
    }

    [Fact]
    public void Macros_map_filter_and_exists_one_are_evaluated()
    {
        var messages = Messages("""{"spec":{"ports":[{"port":80,"primary":true},{"port":443,"primary":true}]}}""");

        Assert.Contains("spec: Invalid value: \"object\": at most one privileged port", messages);
        Assert.Contains("spec: Invalid value: \"object\": exactly one primary port", messages);
    }

    [Fact]
    public void Durations_ternaries_and_integer_division_are_evaluated()
    {
        var messages = Messages("""{"spec":{"timeout":"90m","replicas":3,"tags":[]}}""");

        Assert.Contains("spec: Invalid value: \"object\": timeout below 1h", messages);
        Assert.Contains("spec: Invalid value: \"object\": odd replicas need tags", messages);
        Assert.DoesNotContain("spec: Invalid value: \"object\": odd replicas need tags", Messages("""{"spec":{"replicas":3,"tags":["a"]}}"""));
    }

    [Fact]
    public void Transition_rules_run_only_on_update()
    {
        var created = Validator.Validate(Obj("""{"spec":{"name":"a"}}"""));
        var renamed = Validator.Validate(Obj("""{"spec":{"name":"b"}}"""), Obj("""{"spec":{"name":"a"}}"""));
        var unchanged = Validator.Validate(Obj("""{"spec":{"name":"a"}}"""), Obj("""{"spec":{"name":"a"}}"""));

        Assert.DoesNotContain(created.Errors, e => e.Detail == "name is immutable");
        Assert.Contains("spec.name: Invalid value: \"string\": name is immutable", renamed.Errors.Select(e => e.ToString()));
        Assert.DoesNotContain(unchanged.Errors, e => e.Detail == "name is immutable");
    }

    [Fact]
    public void Set_lists_reject_duplicates()
    {
        Assert.Contains("spec.tags[2]: Duplicate value: \"a\"", Messages("""{"spec":{"tags":["a","b","a"]}}"""));
    }

    [Fact]
    public void Number_bounds_and_map_sizes_use_kube_openapi_wording()
    {
        var messages = Messages("""{"spec":{"replicas":0,"ratio":1,"labels":{"a":"1","b":"2","c":"3"}}}""");

        Assert.Contains("spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1", messages);
        Assert.Contains("spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1", messages);
        Assert.Contains("spec.labels: Too many: 3: must have at most 2 items", messages);
    }

    [Fact]
    public void Int_or_string_accepts_both_and_nothing_else()
    {
        Assert.DoesNotContain(Messages("""{"spec":{"port":"http"}}"""), m => m.StartsWith("spec.port", StringComparison.Ordinal));
        Assert.DoesNotContain(Messages("""{"spec":{"port":80}}"""), m => m.StartsWith("spec.port", StringComparison.Ordinal));
        Assert.Contains("spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"", Messages("""{"spec":{"port":true}}"""));
    }

    [Fact]
    public void Null_is_kept_for_nullable_fields_and_rejected_in_lists()
    {
        var result = Validate("""{"spec":{"note":null,"tags":[null]}}""");

        Assert.True(result.Object["spec"]!.AsObject().ContainsKey("note"));
        Assert.Contains("spec.tags[0]: Invalid value: \"null\": spec.tags[0] in body must be of type string: \"null\"", result.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void Has_is_true_for_a_present_but_empty_object_list_or_string()
    {
        // The Cel 0.3.3 package answers false here, which would reject a canary step `pause: {}`.
        var validator = CrdSchemaValidator.FromSchema(JsonNode.Parse("""
            {
              "type": "object",
              "x-kubernetes-validations": [ { "rule": "has(self.o) && has(self.l) && has(self.s)", "message": "o, l and s must be present" } ],
              "properties": { "o": { "type": "object" }, "l": { "type": "array", "items": { "type": "string" } }, "s": { "type": "string" } }
            }
            """)!);

        Assert.True(validator.Validate(Obj("""{"o":{},"l":[],"s":""}""")).IsValid);
        Assert.Equal(["<nil>: Invalid value: \"object\": o, l and s must be present"], validator.Validate(Obj("""{"o":{}}""")).Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void A_CRD_without_the_requested_version_is_refused()
    {
        var crd = JsonNode.Parse("""{"spec":{"versions":[{"name":"v1","schema":{"openAPIV3Schema":{"type":"object"}}}]}}""")!;

        var error = Assert.Throws<ArgumentException>(() => CrdSchemaValidator.FromCrd(crd, "v2"));
        Assert.Contains("v2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_rule_that_does_not_compile_is_refused_when_the_validator_is_built()
    {
        var schema = JsonNode.Parse("""{"type":"object","x-kubernetes-validations":[{"rule":"self.a ==","message":"m"}]}""")!;

        var error = Assert.Throws<ArgumentException>(() => CrdSchemaValidator.FromSchema(schema));
        Assert.Contains("self.a ==", error.Message, StringComparison.Ordinal);
    }

    private static ValidationResult Validate(string json) => Validator.Validate(Obj(json));

    private static List<string> Messages(string json) => Validate(json).Errors.Select(e => e.ToString()).ToList();

    private static JsonObject Obj(string json) => (JsonObject)JsonNode.Parse(json)!;
}
