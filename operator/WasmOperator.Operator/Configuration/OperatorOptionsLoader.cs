using System.Collections;
using System.Text;
using System.Text.Json;

namespace WasmOperator.Operator.Configuration;

/// <summary>
/// Builds <see cref="OperatorOptions"/> from a JSON file (<c>--config</c> or <c>WASMOP_CONFIG</c>), then
/// <c>WASMOP_*</c> environment variables, then <c>--flag=value</c> arguments; later sources win. Names are
/// kebab-case in flags (<c>--root-namespace</c>), UPPER_SNAKE in the environment (<c>WASMOP_ROOT_NAMESPACE</c>)
/// and either camelCase or kebab-case in the file. Lists are comma-separated; durations as Go writes them (15s, 500ms, 1h30m).
/// The settings themselves are listed in <see cref="OperatorSettings"/>.
/// </summary>
internal static class OperatorOptionsLoader
{
    private const string EnvPrefix = OperatorSettings.EnvPrefix;

    /// <summary>
    /// Loads and validates the options; unknown flags and file keys are errors, unknown <c>WASMOP_*</c> variables
    /// only go to <paramref name="warnings"/> (Kubernetes service links set WASMOP_SERVICE_HOST, WASMOP_PORT, … for
    /// a Service named wasmop).
    /// </summary>
    public static OperatorOptions Load(IReadOnlyList<string> args, IDictionary? environment = null, List<string>? warnings = null)
    {
        environment ??= Environment.GetEnvironmentVariables();
        var values = new Dictionary<string, Value>(StringComparer.Ordinal);
        var problems = new List<string>();
        var flags = ParseFlags(args, problems);
        var file = flags.GetValueOrDefault("config") ?? (environment["WASMOP_CONFIG"] as string);
        if (file is not null)
        {
            ReadFile(file, values, problems);
        }

        var unknown = new List<string>();
        foreach (DictionaryEntry entry in environment)
        {
            if (entry.Key is string name && name.StartsWith(EnvPrefix, StringComparison.Ordinal) && name != "WASMOP_CONFIG" && entry.Value is string value)
            {
                var key = Normalize(name[EnvPrefix.Length..]);
                if (OperatorSettings.Find(key) is null)
                {
                    unknown.Add(name);
                    continue;
                }

                values[key] = new Value(value, name);
            }
        }

        if (unknown.Count > 0)
        {
            unknown.Sort(StringComparer.Ordinal);
            warnings?.Add($"ignoring {string.Join(", ", unknown)}: not operator settings (Kubernetes sets such variables for a Service named wasmop unless the pod has enableServiceLinks: false); --help lists the settings");
        }

        foreach (var (name, value) in flags)
        {
            if (name != "config")
            {
                values[name] = new Value(value, null);
            }
        }

        var options = Bind(values, problems);
        try
        {
            options.Validate();
        }
        catch (OptionsException invalid)
        {
            foreach (var problem in invalid.Problems)
            {
                problems.Add(problem + FromEnvironment(problem, values));
            }
        }

        return problems.Count > 0 ? throw new OptionsException(problems) : options;
    }

    /// <summary>Go-style durations (1h30m, 5m, 15s, 500ms) or a .NET TimeSpan (00:00:15).</summary>
    internal static TimeSpan Duration(string raw) => OperatorSettings.Duration(raw);

    private static OperatorOptions Bind(Dictionary<string, Value> values, List<string> problems)
    {
        var o = new OperatorOptions();
        foreach (var (key, value) in values)
        {
            if (OperatorSettings.Find(key) is not { } setting)
            {
                problems.Add($"{key}: unknown setting; --help lists the settings");
                continue;
            }

            try
            {
                o = setting.Apply(o, value.Raw);
            }
            catch (Exception ex) when (ex is FormatException or OverflowException)
            {
                problems.Add(value.Variable is { } variable
                    ? $"{variable}={value.Raw}: {ex.Message} for {key}"
                    : $"{key}: \"{value.Raw}\" is not valid; {ex.Message}");
            }
        }

        return o;
    }

    /// <summary>" (set by WASMOP_X=v)" for the settings a validation problem names that came from the environment.</summary>
    private static string FromEnvironment(string problem, Dictionary<string, Value> values)
    {
        var sources = new List<string>();
        foreach (var (key, value) in values)
        {
            if (value.Variable is { } variable && NamesSetting(problem, key))
            {
                sources.Add($"{variable}={value.Raw}");
            }
        }

        return sources.Count == 0 ? "" : $" (set by {string.Join(", ", sources)})";
    }

    private static bool NamesSetting(string problem, string key)
    {
        for (var at = problem.IndexOf(key, StringComparison.Ordinal); at >= 0; at = problem.IndexOf(key, at + 1, StringComparison.Ordinal))
        {
            var end = at + key.Length;
            var before = at == 0 || problem[at - 1] is ' ' or ',';
            var after = end == problem.Length || problem[end] is ':' or ' ' or ',';
            if (before && after)
            {
                return true;
            }
        }

        return false;
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

    private static void ReadFile(string path, Dictionary<string, Value> values, List<string> problems)
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
                values[Normalize(property.Name)] = new Value(property.Value.ValueKind switch
                {
                    JsonValueKind.String => property.Value.GetString()!,
                    JsonValueKind.Array => string.Join(',', property.Value.EnumerateArray().Select(e => e.ToString())),
                    _ => property.Value.GetRawText(),
                }, null);
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

    /// <param name="Variable">The environment variable the value came from; null for a flag or the file.</param>
    private readonly record struct Value(string Raw, string? Variable);
}
