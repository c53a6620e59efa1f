using System.Collections.Concurrent;
using System.Globalization;
using System.Text.RegularExpressions;

namespace WasmOperator.Validation.Cel;

/// <summary>The CEL standard functions and the Kubernetes string extensions that CRD rules use.</summary>
internal static class CelFunctions
{
    private static readonly ConcurrentDictionary<string, Regex> RegexCache = new(StringComparer.Ordinal);

    public static object? Invoke(string function, bool isMethod, object? receiver, object?[] args)
    {
        if (!isMethod)
        {
            return Global(function, args);
        }

        return (function, receiver, args) switch
        {
            ("size", _, []) => Size(receiver),
            ("matches", string s, [string re]) => Matches(s, re),
            ("startsWith", string s, [string p]) => s.StartsWith(p, StringComparison.Ordinal),
            ("endsWith", string s, [string p]) => s.EndsWith(p, StringComparison.Ordinal),
            ("contains", string s, [string p]) => s.Contains(p, StringComparison.Ordinal),
            ("lowerAscii", string s, []) => s.ToLowerInvariant(),
            ("upperAscii", string s, []) => s.ToUpperInvariant(),
            ("trim", string s, []) => s.Trim(),
            ("indexOf", string s, [string p]) => (long)s.IndexOf(p, StringComparison.Ordinal),
            ("lastIndexOf", string s, [string p]) => (long)s.LastIndexOf(p, StringComparison.Ordinal),
            ("replace", string s, [string a, string b]) => s.Replace(a, b, StringComparison.Ordinal),
            ("split", string s, [string sep]) => s.Split(sep).Cast<object?>().ToList(),
            ("substring", string s, [long start]) => Substring(s, start, s.Length),
            ("substring", string s, [long start, long end]) => Substring(s, start, end),
            ("join", List<object?> list, []) => string.Concat(list.Cast<string>()),
            ("join", List<object?> list, [string sep]) => string.Join(sep, list.Cast<string>()),
            ("getHours", TimeSpan t, []) => (long)t.TotalHours,
            ("getMinutes", TimeSpan t, []) => (long)t.TotalMinutes,
            ("getSeconds", TimeSpan t, []) => (long)t.TotalSeconds,
            ("getMilliseconds", TimeSpan t, []) => (long)t.TotalMilliseconds,
            _ => throw new CelException($"found no matching overload for '{function}' applied to '{CelValues.TypeName(receiver)}.({string.Join(", ", args.Select(CelValues.TypeName))})'"),
        };
    }

    private static object? Global(string function, object?[] args) => (function, args) switch
    {
        ("size", [var x]) => Size(x),
        ("matches", [string s, string re]) => Matches(s, re),
        ("dyn", [var x]) => x,
        ("int", [long l]) => l,
        ("int", [double d]) => d is >= long.MinValue and < long.MaxValue ? (long)Math.Truncate(d) : throw new CelException("range error converting double to int"),
        ("int", [string s]) => long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) ? l : throw new CelException($"cannot convert \"{s}\" to int"),
        ("int", [DateTimeOffset t]) => t.ToUnixTimeSeconds(),
        ("double", [long l]) => (double)l,
        ("double", [double d]) => d,
        ("double", [string s]) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new CelException($"cannot convert \"{s}\" to double"),
        ("string", [string s]) => s,
        ("string", [long l]) => l.ToString(CultureInfo.InvariantCulture),
        ("string", [double d]) => d.ToString("R", CultureInfo.InvariantCulture),
        ("string", [bool b]) => b ? "true" : "false",
        ("string", [TimeSpan t]) => GoDuration.Format(t),
        ("bool", [bool b]) => b,
        ("bool", [string s]) => s switch
        {
            "true" or "True" or "TRUE" or "t" or "1" => true,
            "false" or "False" or "FALSE" or "f" or "0" => false,
            _ => throw new CelException($"cannot convert \"{s}\" to bool"),
        },
        ("duration", [string s]) => GoDuration.TryParse(s, out var d) ? d : throw new CelException($"invalid duration \"{s}\""),
        ("duration", [TimeSpan t]) => t,
        ("timestamp", [string s]) => DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var t) ? t : throw new CelException($"invalid timestamp \"{s}\""),
        _ => throw new CelException($"found no matching overload for '{function}' applied to '({string.Join(", ", args.Select(CelValues.TypeName))})'"),
    };

    private static long Size(object? value) => value switch
    {
        string s => s.EnumerateRunes().Count(),
        List<object?> list => list.Count,
        Dictionary<string, object?> map => map.Count,
        _ => throw new CelException($"found no matching overload for 'size' applied to '({CelValues.TypeName(value)})'"),
    };

    private static bool Matches(string value, string pattern)
    {
        Regex regex;
        try
        {
            regex = RegexCache.GetOrAdd(pattern, p => new Regex(p, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)));
        }
        catch (ArgumentException e)
        {
            throw new CelException($"invalid regular expression '{pattern}': {e.Message}");
        }

        return regex.IsMatch(value);
    }

    private static string Substring(string s, long start, long end) =>
        start < 0 || end > s.Length || start > end
            ? throw new CelException($"index out of range: {start}..{end}")
            : s[(int)start..(int)end];
}
