using System.Globalization;
using System.Text;
using WasmOperator.Validation.Cel;

namespace WasmOperator.Operator.Configuration;

/// <summary>
/// The one table of settings: the loader binds from it, and <c>--help</c> and the README's settings section are
/// written from it, so neither can name a setting the loader does not know or miss one it does.
/// </summary>
internal static class OperatorSettings
{
    public const string EnvPrefix = "WASMOP_";

    private static readonly OperatorOptions Defaults = new();

    public static IReadOnlyList<OperatorSetting> All { get; } =
    [
        new("root-namespace", Defaults.RootNamespace, "The namespace whose plugins apply to every namespace (Istio's root namespace).",
            (o, v) => o with { RootNamespace = v }),
        new("watch-namespaces", "all", "Comma-separated namespaces to watch; unset watches all.",
            (o, v) => o with { WatchNamespaces = List(v) }),
        new("insecure-registries", "none", "Comma-separated registries (host or host:port) reached over plain HTTP; covers http:// module urls too.",
            (o, v) => o with { InsecureRegistries = List(v) }),
        new("blocked-cidrs", "none", "Comma-separated CIDRs modules and token realms may never be fetched from (on top of link-local and metadata).",
            (o, v) => o with { BlockedCidrs = List(v) }),
        new("allowed-file-roots", "none: file:// refused", "Comma-separated absolute directories file:// modules may be read from (development only).",
            (o, v) => o with { AllowedFileRoots = List(v) }),
        new("cache-directory", Defaults.CacheDirectory, "Absolute directory of the module cache.",
            (o, v) => o with { CacheDirectory = v }),
        new("cache-max-bytes", Defaults.CacheMaxBytes.ToString(CultureInfo.InvariantCulture), "Size the module cache is collected down to, in bytes (at least 1 MiB).",
            (o, v) => o with { CacheMaxBytes = Long(v) }),
        new("max-module-bytes", Defaults.MaxModuleBytes.ToString(CultureInfo.InvariantCulture), "Largest module (or OCI layer holding it) fetched, in bytes; reads stop there. A module must fit cache-max-bytes too: the smaller applies.",
            (o, v) => o with { MaxModuleBytes = Long(v) }),
        new("cache-gc-interval", Show(Defaults.CacheGcInterval), "How often unpinned modules beyond cache-max-bytes are collected (also after a plugin is deleted or replaced).",
            (o, v) => o with { CacheGcInterval = Duration(v) }),
        new("workers", Show(Defaults.Workers), "Concurrent reconciles (of different plugins), 1 to 256.",
            (o, v) => o with { Workers = Int(v) }),
        new("leader-election", Show(Defaults.LeaderElection), "Elect a leader through a Lease; only the leader reconciles (true or false).",
            (o, v) => o with { LeaderElection = Bool(v) }),
        new("lease-name", Defaults.LeaseName, "Name of the leader-election Lease.",
            (o, v) => o with { LeaseName = v }),
        new("lease-namespace", "the root namespace", "Namespace of the leader-election Lease.",
            (o, v) => o with { LeaseNamespace = v }),
        new("identity", "host name + random suffix", "This replica's identity in the Lease and in events.",
            (o, v) => o with { Identity = v }),
        new("lease-duration", Show(Defaults.LeaseDuration), "How long a standby waits before taking over an unrenewed Lease; more than renew-deadline.",
            (o, v) => o with { LeaseDuration = Duration(v) }),
        new("renew-deadline", Show(Defaults.RenewDeadline), "How long the leader keeps trying to renew before it stops leading; more than 1.2 x retry-period.",
            (o, v) => o with { RenewDeadline = Duration(v) }),
        new("retry-period", Show(Defaults.RetryPeriod), "How often the Lease is tried (to acquire or renew).",
            (o, v) => o with { RetryPeriod = Duration(v) }),
        new("always-pull-interval", Show(Defaults.AlwaysPullInterval), "How often plugins with imagePullPolicy Always re-resolve their module.",
            (o, v) => o with { AlwaysPullInterval = Duration(v) }),
        new("watch-stall-threshold", Show(Defaults.WatchStallThreshold), "No working list or watch for this long turns /healthz red.",
            (o, v) => o with { WatchStallThreshold = Duration(v) }),
        new("watch-timeout", Show(Defaults.WatchTimeout), "Server-side timeout of one watch request, at least 1s.",
            (o, v) => o with { WatchTimeout = Duration(v) }),
        new("watch-reconnect-backoff", Show(Defaults.WatchReconnectBackoff), "First delay before a failed list or watch is tried again (grows with each failure).",
            (o, v) => o with { WatchReconnectBackoff = Duration(v) }),
        new("queue-base-delay", Show(Defaults.QueueBaseDelay), "First retry delay of a failing plugin, doubled per failure up to queue-max-delay.",
            (o, v) => o with { QueueBaseDelay = Duration(v) }),
        new("queue-max-delay", Show(Defaults.QueueMaxDelay), "Longest retry delay of a failing plugin.",
            (o, v) => o with { QueueMaxDelay = Duration(v) }),
        new("queue-qps", Show(Defaults.QueueQps), "Overall reconciles per second the queue lets through (token bucket rate).",
            (o, v) => o with { QueueQps = Number(v) }),
        new("queue-burst", Show(Defaults.QueueBurst), "Reconciles the queue lets through at once above queue-qps (token bucket size).",
            (o, v) => o with { QueueBurst = Int(v) }),
        new("listen-address", Defaults.ListenAddress, "URL where /healthz, /readyz and /metrics listen.",
            (o, v) => o with { ListenAddress = v }),
    ];

    public static OperatorSetting? Find(string name)
    {
        foreach (var setting in All)
        {
            if (setting.Name == name)
            {
                return setting;
            }
        }

        return null;
    }

    /// <summary>True when the arguments ask for <see cref="Help"/> (<c>--help</c> or <c>-h</c>).</summary>
    public static bool WantsHelp(IReadOnlyList<string> args)
    {
        foreach (var arg in args)
        {
            if (arg is "--help" or "-h")
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>What <c>--help</c> prints: every setting with its flag, variable, default and meaning.</summary>
    public static string Help()
    {
        var text = new StringBuilder()
            .AppendLine("Usage: WasmOperator.Operator [--setting=value | --setting value]...")
            .AppendLine()
            .AppendLine("Runs the WasmPlugin operator. Settings come from a JSON file (--config), then WASMOP_* environment")
            .AppendLine("variables, then flags; later wins. Lists are comma-separated; durations as Go writes them (15s, 500ms, 1h30m).")
            .AppendLine()
            .AppendLine("  -h, --help")
            .AppendLine("      Print this help and exit.")
            .AppendLine("  --config  WASMOP_CONFIG")
            .AppendLine("      JSON file of settings, named in camelCase or kebab-case (\"rootNamespace\": \"wasm-system\").");
        foreach (var setting in All)
        {
            text.Append("  ").Append(setting.Flag).Append("  ").Append(setting.Variable).Append("  (default: ").Append(setting.Default).AppendLine(")")
                .Append("      ").AppendLine(setting.Description);
        }

        return text.ToString();
    }

    /// <summary>The settings table of the operator's README.</summary>
    public static string Markdown()
    {
        var text = new StringBuilder()
            .AppendLine("| flag | environment | default | what |")
            .AppendLine("|---|---|---|---|")
            .AppendLine("| `--config` | `WASMOP_CONFIG` | none | JSON file of settings, named in camelCase or kebab-case (`\"rootNamespace\": \"wasm-system\"`). |");
        foreach (var setting in All)
        {
            text.Append("| `").Append(setting.Flag).Append("` | `").Append(setting.Variable).Append("` | ").Append(setting.Default)
                .Append(" | ").Append(setting.Description).AppendLine(" |");
        }

        return text.ToString();
    }

    /// <summary>Go-style durations (1h30m, 5m, 15s, 500ms) or a .NET TimeSpan (00:00:15).</summary>
    internal static TimeSpan Duration(string raw)
    {
        var s = raw.Trim();
        if (GoDuration.TryParse(s, out var duration))
        {
            return duration;
        }

        // Only the colon form: TimeSpan.Parse would read a bare "15" as 15 days.
        return s.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out duration)
            ? duration
            : throw new FormatException("expected a duration such as 15s, 500ms or 1h30m");
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

    private static int Int(string raw) =>
        int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new FormatException("expected a whole number");

    private static long Long(string raw) =>
        long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new FormatException("expected a whole number");

    private static bool Bool(string raw) =>
        bool.TryParse(raw, out var b) ? b : throw new FormatException("expected true or false");

    // NaN would pass every "must be positive" check, so only finite numbers are read.
    private static double Number(string raw) =>
        double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && double.IsFinite(n) ? n : throw new FormatException("expected a number such as 10 or 0.5");

    private static string Show(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Show(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Show(bool value) => value ? "true" : "false";

    /// <summary>As Go writes durations, without zero parts: 10m, 16m40s, 800ms.</summary>
    private static string Show(TimeSpan value)
    {
        if (value < TimeSpan.FromSeconds(1))
        {
            return $"{value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms";
        }

        var text = (value.Hours + (value.Days * 24) > 0 ? $"{value.Hours + (value.Days * 24)}h" : "")
            + (value.Minutes > 0 ? $"{value.Minutes}m" : "")
            + (value.Seconds > 0 || value.Milliseconds > 0 ? $"{(value.Seconds + (value.Milliseconds / 1000.0)).ToString(CultureInfo.InvariantCulture)}s" : "");
        return text;
    }
}
