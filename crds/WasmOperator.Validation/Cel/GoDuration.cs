using System.Globalization;

namespace WasmOperator.Validation.Cel;

/// <summary>Parses Go <c>time.ParseDuration</c> strings ("1h30m", "250ms", "1.5s"), as CEL's <c>duration()</c> does.</summary>
public static class GoDuration
{
    /// <summary>Reads <paramref name="text"/> as Go's time.ParseDuration does; false when it is no duration.</summary>
    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        var s = text.AsSpan();
        var negative = false;
        if (s.Length > 0 && (s[0] == '-' || s[0] == '+'))
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s.SequenceEqual("0"))
        {
            return true;
        }

        if (s.IsEmpty)
        {
            return false;
        }

        decimal totalNanos = 0;
        while (!s.IsEmpty)
        {
            var i = 0;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }

            if (i == 0 || !decimal.TryParse(s[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            s = s[i..];
            var u = 0;
            while (u < s.Length && !char.IsAsciiDigit(s[u]) && s[u] != '.')
            {
                u++;
            }

            decimal? unit = s[..u] switch
            {
                "ns" => 1m,
                "us" or "µs" or "μs" => 1_000m,
                "ms" => 1_000_000m,
                "s" => 1_000_000_000m,
                "m" => 60_000_000_000m,
                "h" => 3_600_000_000_000m,
                _ => null,
            };
            if (unit is null)
            {
                return false;
            }

            // Past long's range of ticks either way: refused below; checked first, as decimal itself overflows at 7.9e28.
            if (number > (decimal)long.MaxValue * 100 / unit.Value)
            {
                return false;
            }

            totalNanos += number * unit.Value;
            if (totalNanos > (decimal)long.MaxValue * 100)
            {
                return false;
            }

            s = s[u..];
        }

        if (totalNanos > (decimal)long.MaxValue * 100)
        {
            return false;
        }

        var ticks = (long)(totalNanos / 100);
        duration = TimeSpan.FromTicks(negative ? -ticks : ticks);
        return true;
    }

    /// <summary>Writes <paramref name="duration"/> as Go's Duration.String does.</summary>
    public static string Format(TimeSpan duration)
    {
        if (duration == TimeSpan.Zero)
        {
            return "0s";
        }

        var seconds = (decimal)duration.Ticks / TimeSpan.TicksPerSecond;
        return seconds.ToString(CultureInfo.InvariantCulture) + "s";
    }
}
