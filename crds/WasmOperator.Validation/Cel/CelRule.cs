using System.Text.Json.Nodes;

namespace WasmOperator.Validation.Cel;

/// <summary>One <c>x-kubernetes-validations</c> entry, compiled once.</summary>
internal sealed class CelRule
{
    private CelRule(string rule, string? message, string? messageExpression, string fieldPath, string reason, CelExpr program, CelExpr? messageProgram)
    {
        Rule = rule;
        Message = message;
        MessageExpression = messageExpression;
        FieldPath = fieldPath;
        Reason = reason;
        Program = program;
        MessageProgram = messageProgram;
        IsTransitionRule = program.References("oldSelf");
    }

    public string Rule { get; }

    public string? Message { get; }

    public string? MessageExpression { get; }

    public string FieldPath { get; }

    public string Reason { get; }

    public CelExpr Program { get; }

    public CelExpr? MessageProgram { get; }

    /// <summary>Rules that read <c>oldSelf</c> only run on update, when an old value exists.</summary>
    public bool IsTransitionRule { get; }

    public static CelRule Parse(JsonObject json)
    {
        var rule = (string?)json["rule"] ?? throw new ArgumentException("an x-kubernetes-validations entry has no rule");
        var messageExpression = (string?)json["messageExpression"];
        try
        {
            return new CelRule(
                rule,
                (string?)json["message"],
                messageExpression,
                (string?)json["fieldPath"] ?? string.Empty,
                (string?)json["reason"] ?? FieldErrorReasons.Invalid,
                CelParser.Parse(rule),
                messageExpression is null ? null : CelParser.Parse(messageExpression));
        }
        catch (CelException e)
        {
            throw new ArgumentException($"CEL rule \"{rule}\" does not compile: {e.Message}", e);
        }
    }
}
