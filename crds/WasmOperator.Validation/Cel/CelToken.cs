namespace WasmOperator.Validation.Cel;

/// <summary>The kinds of CEL token.</summary>
internal enum CelTokenKind
{
    Identifier,
    Literal,
    Operator,
    End,
}

/// <summary>One CEL token; <see cref="Value"/> holds a literal's parsed value.</summary>
internal sealed record CelToken(CelTokenKind Kind, string Text, object? Value, int Position);
