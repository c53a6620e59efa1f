using System.Globalization;
using System.Text;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// Checks a scrape as strictly as Prometheus's text parser does: one TYPE and HELP per family, TYPE before the
/// family's samples, each family's lines together, no series twice, each series name belonging to one family
/// only and to a family with a TYPE (the proxy types every family it writes), valid names and label escapes. Any of these fails the whole scrape in Prometheus.
/// </summary>
internal static class PrometheusText
{
    private static readonly string[] Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    public static void AssertValid(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var helps = new HashSet<string>(StringComparer.Ordinal);
        var sampled = new HashSet<string>(StringComparer.Ordinal);
        var finished = new HashSet<string>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        string? current = null;
        var number = 0;
        foreach (var line in text.Split('\n'))
        {
            number++;
            var where = $"line {number} '{line}'";
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith("# HELP ", StringComparison.Ordinal) || line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line[7..].Split(' ', 2);
                Assert.True(IsName(parts[0]), $"{where}: invalid metric name");
                if (line[2] == 'H')
                {
                    Assert.True(helps.Add(parts[0]), $"{where}: second HELP for {parts[0]}");
                    Assert.True(parts.Length < 2 || ValidEscapes(parts[1], quote: false), $"{where}: invalid escape in HELP");
                }
                else
                {
                    Assert.True(parts.Length == 2 && Types.Contains(parts[1]), $"{where}: invalid TYPE");
                    Assert.True(types.TryAdd(parts[0], parts[1]), $"{where}: second TYPE for {parts[0]}");
                    Assert.False(sampled.Contains(parts[0]), $"{where}: TYPE after samples of {parts[0]}");
                }

                continue;
            }

            if (line[0] == '#')
            {
                continue;
            }

            var nameEnd = line.IndexOfAny(['{', ' ']);
            Assert.True(nameEnd > 0, $"{where}: no value");
            var name = line[..nameEnd];
            Assert.True(IsName(name), $"{where}: invalid metric name");
            var rest = line[nameEnd..];
            var labels = new List<string>();
            if (rest[0] == '{')
            {
                rest = ParseLabels(rest, labels, where);
            }

            var value = rest.TrimStart(' ').Split(' ')[0];
            Assert.True(value is "+Inf" or "-Inf" or "NaN" || double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _), $"{where}: invalid value");
            labels.Sort(StringComparer.Ordinal);
            Assert.True(series.Add(name + "{" + string.Join(",", labels) + "}"), $"{where}: the same series twice");

            var family = FamilyOf(name, types, where);

            // Every family the proxy writes has a TYPE; a sample outside any (a histogram's _bucket written under a
            // counter's TYPE) is read as an untyped metric of its own, and the histogram is lost.
            Assert.True(types.ContainsKey(family), $"{where}: {name} belongs to no family with a TYPE");
            sampled.Add(family);
            if (!string.Equals(family, current, StringComparison.Ordinal))
            {
                Assert.False(finished.Contains(family), $"{where}: lines of {family} are not together");
                if (current is not null)
                {
                    finished.Add(current);
                }

                current = family;
            }
        }
    }

    private static string FamilyOf(string name, Dictionary<string, string> types, string where)
    {
        string? asPart = null;
        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal) && types.TryGetValue(name[..^suffix.Length], out var type) &&
                (type == "histogram" || (type == "summary" && suffix != "_bucket")))
            {
                asPart = name[..^suffix.Length];
            }
        }

        var own = types.TryGetValue(name, out var t) && t is not ("histogram" or "summary");
        Assert.False(own && asPart is not null, $"{where}: {name} is both its own metric and a series of {asPart}");
        return asPart ?? name;
    }

    private static string ParseLabels(string rest, List<string> labels, string where)
    {
        var i = 1;
        while (rest[i] != '}')
        {
            var eq = rest.IndexOf('=', i);
            Assert.True(eq > i && IsName(rest[i..eq]) && rest[eq + 1] == '"', $"{where}: invalid label");
            var value = new StringBuilder();
            var j = eq + 2;
            for (; rest[j] != '"'; j++)
            {
                if (rest[j] == '\\')
                {
                    j++;
                    Assert.True(rest[j] is '\\' or '"' or 'n', $"{where}: invalid escape in a label value");
                }

                value.Append(rest[j]);
            }

            labels.Add(rest[i..eq] + "=" + value);
            i = j + 1;
            if (rest[i] == ',')
            {
                i++;
            }
        }

        return rest[(i + 1)..];
    }

    private static bool ValidEscapes(string text, bool quote)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && (i + 1 == text.Length || !(text[i + 1] is '\\' or 'n' || (quote && text[i + 1] == '"'))))
            {
                return false;
            }

            if (text[i] == '\\')
            {
                i++;
            }
        }

        return true;
    }

    private static bool IsName(string name)
    {
        if (name.Length == 0 || char.IsAsciiDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '_' and not ':')
            {
                return false;
            }
        }

        return true;
    }
}
