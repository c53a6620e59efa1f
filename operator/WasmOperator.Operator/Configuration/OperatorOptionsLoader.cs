using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace WasmOperator.Operator.Configuration;

/// <summary>
/// Builds <see cref="OperatorOptions"/> from a JSON file (<c>--config</c> or <c>WASMOP_CONFIG</c>), then
/// <c>WASMOP_*</c> environment variables, then <c>--flag=value</c> arguments; later sources win. Names are
/// kebab-case in flags (<c>--root-namespace</c>), UPPER_SNAKE in the environment (<c>WASMOP_ROOT_NAMESPACE</c>)
/// and either camelCase or kebab-case in the file. Lists are comma-separated; durations like 15s, 500ms, 5m.
/// </summary>
internal static class OperatorOptionsLoader
{
    private const string EnvPrefix = "WASMOP_";

    public static OperatorOptions Load(IReadOnlyList<string> args, IDictionary? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables();
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var problems = new List<string>();
        var flags = ParseFlags(args, problems);
        var file = flags.GetValueOrDefault("config") ?? (environment["WASMOP_CONFIG"] as string);
        if (file is not null)
        {
            ReadFile(file, values, problems);
        }

        foreach (DictionaryEntry entry in environment)
        {
            if (entry.Key is string name && name.StartsWith(EnvPrefix, StringComparison.Ordinal) && name != "WASMOP_CONFIG" && entry.Value is string value)
            {
                values[Normalize(name[EnvPrefix.Length..])] = value;
            }
        }

        foreach (var (name, value) in flags)
        {
            if (name != "config")
            {
                values[name] = value;
            }
        }

        var options = Bind(values, problems);
        try
        {
            options.Validate();
        }
        catch (OptionsException invalid)
        {
            problems.AddRange(invalid.Problems);
        }

        return problems.Count > 0 ? throw new OptionsException(problems) : options;
    }

    private static OperatorOptions Bind(Dictionary<string, string> v, List<string> problems)
    {
        var o = new OperatorOptions();
        foreach (var (key, raw) in v)
        {
            try
            {
                o = key switch
                {
                    "root-namespace" => o with { RootNamespace = raw },
                    "watch-namespaces" => o with { WatchNamespaces = List(raw) },
                    "insecure-registries" => o with { InsecureRegistries = List(raw) },
                    "blocked-cidrs" => o with { BlockedCidrs = List(raw) },
                    "allowed-file-roots" => o with { AllowedFileRoots = List(raw) },
                    "cache-directory" => o with { CacheDirectory = raw },
                    "cache-max-bytes" => o with { CacheMaxBytes = long.Parse(raw, CultureInfo.InvariantCulture) },
                    "cache-gc-interval" => o with { CacheGcInterval = Duration(raw) },
                    "workers" => o with { Workers = int.Parse(raw, CultureInfo.InvariantCulture) },
                    "leader-election" => o with { LeaderElection = bool.Parse(raw) },
                    "lease-name" => o with { LeaseName = raw },
                    "lease-namespace" => o with { LeaseNamespace = raw },
                    "identity" => o with { Identity = raw },
                    "lease-duration" => o with { LeaseDuration = Duration(raw) },
                    "renew-deadline" => o with { RenewDeadline = Duration(raw) },
                    "retry-period" => o with { RetryPeriod = Duration(raw) },
                    "always-pull-interval" => o with { AlwaysPullInterval = Duration(raw) },
                    "watch-stall-threshold" => o with { WatchStallThreshold = Duration(raw) },
                    "watch-timeout" => o with { WatchTimeout = Duration(raw) },
                    "watch-reconnect-backoff" => o with { WatchReconnectBackoff = Duration(raw) },
                    "queue-base-delay" => o with { QueueBaseDelay = Duration(raw) },
                    "queue-max-delay" => o with { QueueMaxDelay = Duration(raw) },
                    "queue-qps" => o with { QueueQps = double.Parse(raw, CultureInfo.InvariantCulture) },
                    "queue-burst" => o with { QueueBurst = int.Parse(raw, CultureInfo.InvariantCulture) },
                    "listen-address" => o with { ListenAddress = raw },
                    _ => throw new KeyNotFoundException(),
                };
            }
            catch (KeyNotFoundException)
            {
                problems.Add($"{key}: unknown setting");
            }
            catch (FormatException)
            {
                problems.Add($"{key}: \"{raw}\" is not a valid value for this setting");
            }
            catch (OverflowException)
            {
                problems.Add($"{key}: \"{raw}\" is out of range");
            }
        }

        return o;
    }

    /// <summary>Go-style durations (1h, 5m, 15s, 500ms) or a .NET TimeSpan (00:00:15).</summary>
    internal static TimeSpan Duration(string raw)
    {
        var s = raw.Trim();
        (string Suffix, double Ms)[] units = [("ms", 1), ("h", 3_600_000), ("m", 60_000), ("s", 1000)];
        foreach (var (suffix, ms) in units)
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal) && double.TryParse(s[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            {
                return TimeSpan.FromMilliseconds(n * ms);
            }
        }

        return TimeSpan.Parse(s, CultureInfo.InvariantCulture);
    }

    private static List<string> List(string raw)
    {
        var parts = new List<string>();
        foreach (var part in raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            parts.Add(part);
        }

        return parts;
    }

    private static Dictionary<string, string> ParseFlags(IReadOnlyList<string> args, List<string> problems)
    {
        var flags = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                problems.Add($"unexpected argument \"{arg}\"; flags look like --name=value");
                continue;
            }

            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                flags[Normalize(arg[2..eq])] = arg[(eq + 1)..];
            }
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                flags[Normalize(arg[2..])] = args[++i];
            }
            else
            {
                flags[Normalize(arg[2..])] = "true";
            }
        }

        return flags;
    }

    private static void ReadFile(string path, Dictionary<string, string> values, List<string> problems)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                problems.Add($"config file {path}: must hold a JSON object");
                return;
            }

            foreach (var property in doc.RootElement.EnumerateObject())
            {
                values[Normalize(property.Name)] = property.Value.ValueKind switch
                {
                    JsonValueKind.String => property.Value.GetString()!,
                    JsonValueKind.Array => string.Join(',', property.Value.EnumerateArray().Select(e => e.ToString())),
                    _ => property.Value.GetRawText(),
                };
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            problems.Add($"config file {path}: {ex.Message}");
        }
    }

    /// <summary>rootNamespace, ROOT_NAMESPACE and root-namespace all become root-namespace.</summary>
    private static string Normalize(string name)
    {
        var sb = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (c == '_')
            {
                sb.Append('-');
            }
            else if (char.IsUpper(c) && i > 0 && char.IsLower(name[i - 1]))
            {
                sb.Append('-').Append(char.ToLowerInvariant(c));
            }
            else
            {
                sb.Append(char.ToLowerInvariant(c));
            }
        }

        return sb.ToString();
    }
}
