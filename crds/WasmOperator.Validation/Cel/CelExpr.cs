namespace WasmOperator.Validation.Cel;

/// <summary>
/// A parsed CEL expression. Values are null, bool, long, double, string, <see cref="TimeSpan"/> (duration),
/// <see cref="DateTimeOffset"/> (timestamp), <c>List&lt;object?&gt;</c> and <c>Dictionary&lt;string, object?&gt;</c>.
/// </summary>
internal abstract class CelExpr
{
    /// <summary>Evaluates with the given variables (e.g. <c>self</c>, <c>oldSelf</c>).</summary>
    public object? Evaluate(IReadOnlyDictionary<string, object?> variables) => Eval(new Scope(variables, null, null, null));

    /// <summary>Whether the expression mentions a variable, e.g. <c>oldSelf</c> for transition rules.</summary>
    public abstract bool References(string name);

    protected abstract object? Eval(Scope scope);

    protected static object? EvalOf(CelExpr expr, Scope scope) => expr.Eval(scope);

    /// <summary>Variables in reach: the activation plus comprehension variables.</summary>
    protected sealed class Scope(IReadOnlyDictionary<string, object?>? root, Scope? parent, string? name, object? value)
    {
        public object? Lookup(string variable)
        {
            for (var s = this; s is not null; s = s.Parent)
            {
                if (s.Name == variable)
                {
                    return s.Value;
                }

                if (s.Root is not null && s.Root.TryGetValue(variable, out var found))
                {
                    return found;
                }
            }

            throw new CelException($"undeclared reference to '{variable}'");
        }

        public Scope With(string variable, object? v) => new(null, this, variable, v);

        private Scope? Parent { get; } = parent;

        private string? Name { get; } = name;

        private object? Value { get; } = value;

        private IReadOnlyDictionary<string, object?>? Root { get; } = root;
    }

    internal sealed class Literal(object? value) : CelExpr
    {
        public override bool References(string name) => false;

        protected override object? Eval(Scope scope) => value;
    }

    internal sealed class Ident(string name) : CelExpr
    {
        public string Name { get; } = name;

        public override bool References(string name) => Name == name;

        protected override object? Eval(Scope scope) => scope.Lookup(Name);
    }

    internal sealed class Select(CelExpr operand, string field) : CelExpr
    {
        public CelExpr Operand { get; } = operand;

        public string Field { get; } = field;

        public override bool References(string name) => Operand.References(name);

        protected override object? Eval(Scope scope) => EvalOf(Operand, scope) switch
        {
            Dictionary<string, object?> map => map.TryGetValue(Field, out var v) ? v : throw new CelException($"no such key: {Field}"),
            var other => throw new CelException($"no such overload: {CelValues.TypeName(other)}.{Field}"),
        };
    }

    internal sealed class Has(CelExpr operand, string field) : CelExpr
    {
        public override bool References(string name) => operand.References(name);

        protected override object? Eval(Scope scope) => EvalOf(operand, scope) switch
        {
            Dictionary<string, object?> map => map.TryGetValue(field, out var v) && v is not null,
            var other => throw new CelException($"invalid type for field selection: {CelValues.TypeName(other)}"),
        };
    }

    internal sealed class Index(CelExpr operand, CelExpr index) : CelExpr
    {
        public override bool References(string name) => operand.References(name) || index.References(name);

        protected override object? Eval(Scope scope)
        {
            var target = EvalOf(operand, scope);
            var key = EvalOf(index, scope);
            return (target, key) switch
            {
                (List<object?> list, long i) => i >= 0 && i < list.Count ? list[(int)i] : throw new CelException($"index out of bounds: {i}"),
                (Dictionary<string, object?> map, string k) => map.TryGetValue(k, out var v) ? v : throw new CelException($"no such key: {k}"),
                _ => throw new CelException($"no such overload: {CelValues.TypeName(target)}[{CelValues.TypeName(key)}]"),
            };
        }
    }

    internal sealed class Call(CelExpr? target, string function, List<CelExpr> args) : CelExpr
    {
        public override bool References(string name) => (target?.References(name) ?? false) || args.Exists(a => a.References(name));

        protected override object? Eval(Scope scope)
        {
            var receiver = target is null ? null : EvalOf(target, scope);
            var values = new object?[args.Count];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = EvalOf(args[i], scope);
            }

            return CelFunctions.Invoke(function, target is not null, receiver, values);
        }
    }

    internal sealed class Comprehension(string macro, CelExpr range, string variable, CelExpr first, CelExpr? second) : CelExpr
    {
        public override bool References(string name) =>
            range.References(name) || (variable != name && (first.References(name) || (second?.References(name) ?? false)));

        protected override object? Eval(Scope scope)
        {
            var source = EvalOf(range, scope);
            IEnumerable<object?> items = source switch
            {
                List<object?> list => list,
                Dictionary<string, object?> map => map.Keys,
                _ => throw new CelException($"expression of type '{CelValues.TypeName(source)}' cannot be range of a comprehension"),
            };

            switch (macro)
            {
                case "all":
                case "exists":
                    var wantAll = macro == "all";
                    CelException? deferred = null;
                    foreach (var item in items)
                    {
                        try
                        {
                            var ok = Bool(EvalOf(first, scope.With(variable, item)));
                            if (ok != wantAll)
                            {
                                return !wantAll;
                            }
                        }
                        catch (CelException e)
                        {
                            deferred ??= e;
                        }
                    }

                    return deferred is null ? wantAll : throw deferred;
                case "exists_one":
                    var count = 0;
                    foreach (var item in items)
                    {
                        if (Bool(EvalOf(first, scope.With(variable, item))))
                        {
                            count++;
                        }
                    }

                    return count == 1;
                case "filter":
                    return items.Where(item => Bool(EvalOf(first, scope.With(variable, item)))).ToList();
                default:
                    var result = new List<object?>();
                    foreach (var item in items)
                    {
                        var inner = scope.With(variable, item);
                        if (second is null)
                        {
                            result.Add(EvalOf(first, inner));
                        }
                        else if (Bool(EvalOf(first, inner)))
                        {
                            result.Add(EvalOf(second, inner));
                        }
                    }

                    return result;
            }
        }

        private static bool Bool(object? value) => value as bool? ?? throw new CelException($"no matching overload: expected bool, got {CelValues.TypeName(value)}");
    }

    internal sealed class Unary(string op, CelExpr operand) : CelExpr
    {
        public override bool References(string name) => operand.References(name);

        protected override object? Eval(Scope scope)
        {
            var value = EvalOf(operand, scope);
            return (op, value) switch
            {
                ("!", bool b) => !b,
                ("-", long l) => l == long.MinValue ? throw new CelException("return error for overflow") : -l,
                ("-", double d) => -d,
                ("-", TimeSpan t) => -t,
                _ => throw new CelException($"no such overload: {op}{CelValues.TypeName(value)}"),
            };
        }
    }

    internal sealed class Binary(string op, CelExpr left, CelExpr right) : CelExpr
    {
        public override bool References(string name) => left.References(name) || right.References(name);

        protected override object? Eval(Scope scope) => CelValues.Binary(op, EvalOf(left, scope), EvalOf(right, scope));
    }

    /// <summary><c>&amp;&amp;</c> and <c>||</c> with CEL's commutative treatment of errors.</summary>
    internal sealed class Logical(bool isAnd, CelExpr left, CelExpr right) : CelExpr
    {
        public override bool References(string name) => left.References(name) || right.References(name);

        protected override object? Eval(Scope scope)
        {
            object? l;
            CelException? error = null;
            try
            {
                l = EvalOf(left, scope);
            }
            catch (CelException e)
            {
                l = null;
                error = e;
            }

            if (l is bool lb && lb != isAnd)
            {
                return lb;
            }

            var r = EvalOf(right, scope);
            if (r is bool rb && rb != isAnd)
            {
                return rb;
            }

            if (error is not null)
            {
                throw error;
            }

            return l is bool && r is bool
                ? isAnd
                : throw new CelException($"no matching overload for '{(isAnd ? "&&" : "||")}' applied to ({CelValues.TypeName(l)}, {CelValues.TypeName(r)})");
        }
    }

    internal sealed class Conditional(CelExpr condition, CelExpr then, CelExpr otherwise) : CelExpr
    {
        public override bool References(string name) => condition.References(name) || then.References(name) || otherwise.References(name);

        protected override object? Eval(Scope scope) => EvalOf(condition, scope) switch
        {
            true => EvalOf(then, scope),
            false => EvalOf(otherwise, scope),
            var other => throw new CelException($"no matching overload for '_?_:_' applied to {CelValues.TypeName(other)}"),
        };
    }

    internal sealed class ListLiteral(List<CelExpr> items) : CelExpr
    {
        public override bool References(string name) => items.Exists(i => i.References(name));

        protected override object? Eval(Scope scope) => items.Select(i => EvalOf(i, scope)).ToList();
    }

    internal sealed class MapLiteral(List<(CelExpr Key, CelExpr Value)> entries) : CelExpr
    {
        public override bool References(string name) => entries.Exists(e => e.Key.References(name) || e.Value.References(name));

        protected override object? Eval(Scope scope)
        {
            var map = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var (key, value) in entries)
            {
                var k = EvalOf(key, scope) as string ?? throw new CelException("only string map keys are supported");
                map[k] = EvalOf(value, scope);
            }

            return map;
        }
    }
}
