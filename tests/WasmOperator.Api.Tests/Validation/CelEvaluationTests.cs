using System.Text.Json.Nodes;
using WasmOperator.Validation;

namespace WasmOperator.Api.Tests.Validation;

/// <summary>The CEL subset CRD rules use, evaluated on <c>{"name":"abc","count":3,"tags":["a","b"]}</c>.</summary>
public sealed class CelEvaluationTests
{
    private const string Self = """{"name":"abc","count":3,"ratio":0.5,"tags":["a","b"]}""";

    public static TheoryData<string> TrueRules => new()
    {
        "self.name.matches('^[a-z]+$') && size(self.name) == 3 && self.name.size() == 3",
        "self.name.startsWith('ab') && self.name.endsWith('c') && self.name.contains('bc') && !self.name.startsWith('b')",
        "self.name.upperAscii() == 'ABC' && 'ABC'.lowerAscii() == self.name",
        "self.name.split('b').size() == 2 && self.name.indexOf('c') == 2 && self.name.replace('b', '-') == 'a-c'",
        "'x' + self.name == 'xabc' && self.tags + ['c'] == ['a', 'b', 'c']",
        "self.count + 1 == 4 && self.count * 2 == 6 && self.count / 2 == 1 && self.count % 2 == 1 && -self.count == -3",
        "double(self.count) * self.ratio == 1.5 && self.count > self.ratio && self.count == 3.0",
        "int('7') == 7 && string(self.count) == '3' && int(2.9) == 2",
        "self.count in [1, 2, 3] && 'b' in self.tags && !('z' in self.tags)",
        "self.tags.all(t, size(t) == 1) && self.tags.exists(t, t == 'b') && self.tags.exists_one(t, t == 'a')",
        "self.tags.map(t, t + '!') == ['a!', 'b!'] && self.tags.filter(t, t != 'a') == ['b'] && self.tags.map(t, t != 'a', t) == ['b']",
        "{'a': 1, 'b': 2}['b'] == 2 && {'a': 1}.all(k, k == 'a') && 'a' in {'a': 1}",
        "duration('1h30m') == duration('90m') && duration('1.5s') > duration('1s') && duration('2m') + duration('30s') == duration('150s')",
        "timestamp('2026-01-01T00:00:00Z') + duration('24h') == timestamp('2026-01-02T00:00:00Z')",
        "self.count > 5 ? false : true",
        "has(self.name) && !has(self.nothing)",
        "self.nothing == 'x' || true",
        "true || self.nothing == 'x'",
        "!(self.nothing == 'x' && false)",
        "r'\\d+' == '\\\\d+' && '''tri\"ple''' == 'tri\"ple' && \"dq\" == 'dq'",
        "0x10 == 16 && 1e3 == 1000.0 && .5 == 0.5",
        "[1, [2, 3]][1][0] == 2 && size([]) == 0",
    };

    public static TheoryData<string, string> FailingRules => new()
    {
        { "self.count / 0 == 1", "division by zero" },
        { "self.count % 0 == 1", "modulus by zero" },
        { "self.nothing == 'x' && true", "no such key: nothing" },
        { "self.tags[5] == 'a'", "index out of bounds: 5" },
        { "9223372036854775807 + 1 > 0", "integer overflow" },
        { "self.name + 1 == 'x'", "no such overload" },
        { "self.name", "must evaluate to a bool" },
    };

    [Theory]
    [MemberData(nameof(TrueRules))]
    public void Rule_evaluates_to_true(string rule)
    {
        var result = Validator(rule).Validate(Obj(Self));

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
    }

    [Theory]
    [MemberData(nameof(FailingRules))]
    public void Rule_that_cannot_be_evaluated_is_reported_with_the_reason(string rule, string reason)
    {
        var errors = Validator(rule).Validate(Obj(Self)).Errors;

        var error = Assert.Single(errors);
        Assert.Equal(FieldErrorReasons.Invalid, error.Reason);
        Assert.Contains(reason, error.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_false_rule_fails_with_its_message()
    {
        var error = Assert.Single(Validator("self.count > 3").Validate(Obj(Self)).Errors);

        Assert.Equal("<nil>: Invalid value: \"object\": rule failed", error.ToString());
    }

    private static CrdSchemaValidator Validator(string rule) => CrdSchemaValidator.FromSchema(new JsonObject
    {
        ["type"] = "object",
        ["x-kubernetes-preserve-unknown-fields"] = true,
        ["properties"] = new JsonObject
        {
            ["name"] = new JsonObject { ["type"] = "string" },
            ["count"] = new JsonObject { ["type"] = "integer" },
            ["ratio"] = new JsonObject { ["type"] = "number" },
            ["tags"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" } },
        },
        ["x-kubernetes-validations"] = new JsonArray(new JsonObject { ["rule"] = rule, ["message"] = "rule failed" }),
    });

    private static JsonObject Obj(string json) => (JsonObject)JsonNode.Parse(json)!;
}
