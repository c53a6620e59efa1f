namespace WasmOperator.Validation.Cel;

/// <summary>A recursive-descent parser for the CEL grammar (with the standard macros expanded into nodes).</summary>
internal sealed class CelParser
{
    private static readonly HashSet<string> Macros = new(StringComparer.Ordinal) { "all", "exists", "exists_one", "map", "filter" };
    private readonly List<CelToken> _tokens;
    private int _pos;

    private CelParser(List<CelToken> tokens) => _tokens = tokens;

    private CelToken Current => _tokens[_pos];

    public static CelExpr Parse(string text)
    {
        var parser = new CelParser(CelLexer.Tokenize(text));
        var expr = parser.Conditional();
        if (parser.Current.Kind != CelTokenKind.End)
        {
            throw new CelException($"Syntax error: unexpected '{parser.Current.Text}' at {parser.Current.Position}");
        }

        return expr;
    }

    private CelExpr Conditional()
    {
        var condition = Or();
        if (!Accept("?"))
        {
            return condition;
        }

        var then = Or();
        Expect(":");
        var otherwise = Conditional();
        return new CelExpr.Conditional(condition, then, otherwise);
    }

    private CelExpr Or()
    {
        var left = And();
        while (Accept("||"))
        {
            left = new CelExpr.Logical(false, left, And());
        }

        return left;
    }

    private CelExpr And()
    {
        var left = Relation();
        while (Accept("&&"))
        {
            left = new CelExpr.Logical(true, left, Relation());
        }

        return left;
    }

    private CelExpr Relation()
    {
        var left = Additive();
        while (true)
        {
            var op = Current.Text;
            if (Current.Kind == CelTokenKind.Operator && op is "==" or "!=" or "<" or "<=" or ">" or ">=")
            {
                _pos++;
                left = new CelExpr.Binary(op, left, Additive());
            }
            else if (Current.Kind == CelTokenKind.Identifier && op == "in")
            {
                _pos++;
                left = new CelExpr.Binary("in", left, Additive());
            }
            else
            {
                return left;
            }
        }
    }

    private CelExpr Additive()
    {
        var left = Multiplicative();
        while (Current.Kind == CelTokenKind.Operator && Current.Text is "+" or "-")
        {
            var op = Current.Text;
            _pos++;
            left = new CelExpr.Binary(op, left, Multiplicative());
        }

        return left;
    }

    private CelExpr Multiplicative()
    {
        var left = Unary();
        while (Current.Kind == CelTokenKind.Operator && Current.Text is "*" or "/" or "%")
        {
            var op = Current.Text;
            _pos++;
            left = new CelExpr.Binary(op, left, Unary());
        }

        return left;
    }

    private CelExpr Unary()
    {
        if (Accept("!"))
        {
            return new CelExpr.Unary("!", Unary());
        }

        if (Accept("-"))
        {
            return new CelExpr.Unary("-", Unary());
        }

        return Member();
    }

    private CelExpr Member()
    {
        var expr = Primary();
        while (true)
        {
            if (Accept("."))
            {
                var name = ExpectIdentifier();
                if (Accept("("))
                {
                    var args = Arguments(")");
                    expr = Macros.Contains(name) && args.Count is 2 or 3 && args[0] is CelExpr.Ident variable
                        ? new CelExpr.Comprehension(name, expr, variable.Name, args[1], args.Count == 3 ? args[2] : null)
                        : new CelExpr.Call(expr, name, args);
                }
                else
                {
                    expr = new CelExpr.Select(expr, name);
                }
            }
            else if (Accept("["))
            {
                var index = Conditional();
                Expect("]");
                expr = new CelExpr.Index(expr, index);
            }
            else
            {
                return expr;
            }
        }
    }

    private CelExpr Primary()
    {
        var token = Current;
        switch (token.Kind)
        {
            case CelTokenKind.Literal:
                _pos++;
                return new CelExpr.Literal(token.Value);
            case CelTokenKind.Identifier:
                _pos++;
                switch (token.Text)
                {
                    case "true": return new CelExpr.Literal(true);
                    case "false": return new CelExpr.Literal(false);
                    case "null": return new CelExpr.Literal(null);
                    default: break;
                }

                if (!Accept("("))
                {
                    return new CelExpr.Ident(token.Text);
                }

                var args = Arguments(")");
                if (token.Text == "has")
                {
                    return args is [CelExpr.Select select]
                        ? new CelExpr.Has(select.Operand, select.Field)
                        : throw new CelException("Syntax error: invalid argument to has() macro");
                }

                return new CelExpr.Call(null, token.Text, args);
            case CelTokenKind.Operator when token.Text == "(":
                _pos++;
                var inner = Conditional();
                Expect(")");
                return inner;
            case CelTokenKind.Operator when token.Text == "[":
                _pos++;
                return new CelExpr.ListLiteral(Arguments("]"));
            case CelTokenKind.Operator when token.Text == "{":
                _pos++;
                var entries = new List<(CelExpr, CelExpr)>();
                if (!Accept("}"))
                {
                    do
                    {
                        var key = Conditional();
                        Expect(":");
                        entries.Add((key, Conditional()));
                    }
                    while (Accept(",") && Current.Text != "}");
                    Expect("}");
                }

                return new CelExpr.MapLiteral(entries);
            default:
                throw new CelException($"Syntax error: unexpected '{token.Text}' at {token.Position}");
        }
    }

    private List<CelExpr> Arguments(string close)
    {
        var args = new List<CelExpr>();
        if (Accept(close))
        {
            return args;
        }

        do
        {
            if (Current.Text == close && Current.Kind == CelTokenKind.Operator)
            {
                break;
            }

            args.Add(Conditional());
        }
        while (Accept(","));
        Expect(close);
        return args;
    }

    private bool Accept(string op)
    {
        if (Current.Kind == CelTokenKind.Operator && Current.Text == op)
        {
            _pos++;
            return true;
        }

        return false;
    }

    private void Expect(string op)
    {
        if (!Accept(op))
        {
            throw new CelException($"Syntax error: expected '{op}' at {Current.Position}, found '{Current.Text}'");
        }
    }

    private string ExpectIdentifier()
    {
        if (Current.Kind != CelTokenKind.Identifier)
        {
            throw new CelException($"Syntax error: expected a name at {Current.Position}");
        }

        return _tokens[_pos++].Text;
    }
}
