using System.Globalization;
using System.Text;

namespace WasmOperator.Validation.Cel;

/// <summary>Splits a CEL expression into tokens.</summary>
internal static class CelLexer
{
    private static readonly string[] Operators = ["==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "!", "?", ":", ".", ",", "(", ")", "[", "]", "{", "}"];

    public static List<CelToken> Tokenize(string text)
    {
        var tokens = new List<CelToken>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            if (c == '/' && i + 1 < text.Length && text[i + 1] == '/')
            {
                while (i < text.Length && text[i] != '\n')
                {
                    i++;
                }

                continue;
            }

            if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1])))
            {
                tokens.Add(Number(text, ref i));
                continue;
            }

            if ((c is 'r' or 'R' or 'b' or 'B') && i + 1 < text.Length && text[i + 1] is '"' or '\'')
            {
                i++;
                tokens.Add(String(text, ref i, raw: c is 'r' or 'R'));
                continue;
            }

            if (c is '"' or '\'')
            {
                tokens.Add(String(text, ref i, raw: false));
                continue;
            }

            if (char.IsAsciiLetter(c) || c == '_')
            {
                var start = i;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
                {
                    i++;
                }

                tokens.Add(new CelToken(CelTokenKind.Identifier, text[start..i], null, start));
                continue;
            }

            var op = Array.Find(Operators, o => string.CompareOrdinal(text, i, o, 0, o.Length) == 0)
                ?? throw new CelException($"Syntax error: unexpected character '{c}' at {i}");
            tokens.Add(new CelToken(CelTokenKind.Operator, op, null, i));
            i += op.Length;
        }

        tokens.Add(new CelToken(CelTokenKind.End, string.Empty, null, text.Length));
        return tokens;
    }

    private static CelToken Number(string text, ref int i)
    {
        var start = i;
        if (text[i] == '0' && i + 1 < text.Length && text[i + 1] is 'x' or 'X')
        {
            i += 2;
            while (i < text.Length && char.IsAsciiHexDigit(text[i]))
            {
                i++;
            }

            var hex = long.Parse(text.AsSpan(start + 2, i - start - 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            SkipUnsignedSuffix(text, ref i);
            return new CelToken(CelTokenKind.Literal, text[start..i], hex, start);
        }

        var isDouble = false;
        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            i++;
        }

        if (i < text.Length && text[i] == '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1]))
        {
            isDouble = true;
            i++;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }
        }

        if (i < text.Length && text[i] is 'e' or 'E')
        {
            isDouble = true;
            i++;
            if (i < text.Length && text[i] is '+' or '-')
            {
                i++;
            }

            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }
        }

        var literal = text[start..i];
        if (isDouble)
        {
            return new CelToken(CelTokenKind.Literal, literal, double.Parse(literal, CultureInfo.InvariantCulture), start);
        }

        if (!long.TryParse(literal, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            throw new CelException($"Syntax error: integer literal {literal} is out of range");
        }

        SkipUnsignedSuffix(text, ref i);
        return new CelToken(CelTokenKind.Literal, literal, value, start);
    }

    private static void SkipUnsignedSuffix(string text, ref int i)
    {
        if (i < text.Length && text[i] is 'u' or 'U')
        {
            i++;
        }
    }

    private static CelToken String(string text, ref int i, bool raw)
    {
        var start = i;
        var quote = text[i];
        var triple = i + 2 < text.Length && text[i + 1] == quote && text[i + 2] == quote;
        i += triple ? 3 : 1;
        var sb = new StringBuilder();
        while (true)
        {
            if (i >= text.Length)
            {
                throw new CelException($"Syntax error: unterminated string starting at {start}");
            }

            var c = text[i];
            if (triple ? (c == quote && i + 2 < text.Length && text[i + 1] == quote && text[i + 2] == quote) : c == quote)
            {
                i += triple ? 3 : 1;
                break;
            }

            if (c == '\\' && !raw)
            {
                i++;
                if (i >= text.Length)
                {
                    throw new CelException("Syntax error: dangling escape");
                }

                var e = text[i];
                switch (e)
                {
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case '\\': sb.Append('\\'); break;
                    case '\'': sb.Append('\''); break;
                    case '"': sb.Append('"'); break;
                    case '`': sb.Append('`'); break;
                    case '?': sb.Append('?'); break;
                    case 'a': sb.Append('\a'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'v': sb.Append('\v'); break;
                    case 'u' when i + 4 < text.Length:
                        sb.Append((char)int.Parse(text.AsSpan(i + 1, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    case 'x' when i + 2 < text.Length:
                        sb.Append((char)int.Parse(text.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 2;
                        break;
                    default: throw new CelException($"Syntax error: invalid escape '\\{e}'");
                }

                i++;
                continue;
            }

            sb.Append(c);
            i++;
        }

        return new CelToken(CelTokenKind.Literal, text[start..i], sb.ToString(), start);
    }
}
