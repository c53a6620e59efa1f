using System.Globalization;
using System.Net;
using System.Text;

namespace WasmOperator.Proxy.Configuration;

/// <summary>
/// The proxy's command line: <c>--name value</c> or <c>--name=value</c>, every problem collected and named by its flag
/// (a bad value, a missing one, an unknown flag, a route to a cluster nobody declared) before anything starts, so that
/// one run shows all of them.
/// </summary>
internal static class ProxyArguments
{
    private const string Help = "--help";

    /// <summary>What <c>--help</c> prints: every flag with its default.</summary>
    public static readonly string Usage = string.Join('\n',
        "Usage: WasmOperator.Proxy [flags]   (--name value or --name=value)",
        "  --port N                      HTTP/1.1 data port (15001)",
        "  --h2c-port N                  HTTP/2 prior-knowledge data port for gRPC (15002; 0 = off)",
        "  --admin-port N                admin port: /ready /healthz /config_dump /stats/prometheus (15000)",
        "  --listen ADDRESS              address the listeners bind to (0.0.0.0)",
        "  --upstream URL                the default cluster, where unrouted requests go (http://127.0.0.1:8080)",
        "  --cluster NAME=URL            a named cluster, for --route and plugin callouts (repeatable)",
        "  --route /PREFIX=CLUSTER       requests under PREFIX go to CLUSTER, first match wins (repeatable)",
        "  --plugins FILE                stand-alone mode: YAML plugin set, watched and hot-reloaded",
        "  --node-id ID                  the node id plugins read as node.id (the host name)",
        "  --node-label KEY=VALUE        a workload label, read by plugins as node.metadata.LABELS.KEY (repeatable)",
        "  --node-meta KEY=VALUE         node metadata as Istio's (NAMESPACE, WORKLOAD_NAME, CLUSTER_ID, ...), read as node.metadata.KEY (repeatable)",
        "  --max-body-bytes N            largest body buffered for a plugin; a larger request gets 413 (1048576)",
        "  --shards N                    VMs per plugin (one per core)",
        "  --max-callouts-per-cluster N  plugin callouts one cluster may have in flight (2048)",
        "  --upstream-timeout SECONDS    an ordinary request's upstream moving no byte (100)",
        "  --stream-idle-timeout SECONDS gRPC calls and upgraded streams moving no byte either way (300)",
        "  --drain-time SECONDS          on SIGTERM, how long the listeners keep accepting while not ready (5)",
        "  --drain-timeout SECONDS       then, how long in-flight requests may take before they are aborted (20)",
        "  --plugin-log-level LEVEL      lowest plugin log level written: trace debug info warning error critical (info)",
        "  --inline-io true|false        run requests and plugins on the socket event threads (true)",
        "  --request-id true|false       give a request without x-request-id a random one (true)",
        "  --help                        this text");

    /// <summary>True when the command line asks for <see cref="Usage"/>.</summary>
    public static bool WantsHelp(IReadOnlyList<string> args) => args.Any(a => a is Help or "-h");

    /// <summary>The options the command line sets over the defaults; <see cref="ProxyArgumentsException"/> lists every problem.</summary>
    public static ProxyOptions Parse(IReadOnlyList<string> args)
    {
        var options = new ProxyOptions();
        var problems = new List<string>();
        var clustersSeen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var (flag, value) = Split(args[i]);
            if (!flag.StartsWith("--", StringComparison.Ordinal))
            {
                problems.Add($"unexpected argument '{args[i]}': flags look like --name value");
                continue;
            }

            if (!Known.Contains(flag))
            {
                problems.Add($"{flag}: unknown flag");
                continue;
            }

            if (value is null)
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    problems.Add($"{flag}: needs a value");
                    continue;
                }

                value = args[++i];
            }

            try
            {
                Apply(options, flag, value, clustersSeen);
            }
            catch (FormatException ex)
            {
                problems.Add($"{flag}: {ex.Message}");
            }
        }

        foreach (var route in options.Routes)
        {
            if (!options.Clusters.ContainsKey(route.Cluster))
            {
                problems.Add($"--route: '{route.PathPrefix}={route.Cluster}' names cluster '{route.Cluster}', which no --cluster declares " +
                             $"(declared: {string.Join(", ", options.Clusters.Keys.Order(StringComparer.Ordinal))})");
            }
        }

        var ports = new[] { ("--port", options.Port), ("--h2c-port", options.H2cPort), ("--admin-port", options.AdminPort) }
            .Where(p => p.Item2 != 0).GroupBy(p => p.Item2).Where(g => g.Count() > 1);
        foreach (var shared in ports)
        {
            problems.Add($"{string.Join(" and ", shared.Select(p => p.Item1))}: all {shared.Key}; each listener needs a port of its own");
        }

        return problems.Count > 0 ? throw new ProxyArgumentsException(problems) : options;
    }

    private static readonly HashSet<string> Known = new(StringComparer.Ordinal)
    {
        "--port", "--h2c-port", "--admin-port", "--listen", "--upstream", "--cluster", "--route", "--plugins", "--node-id", "--node-label", "--node-meta",
        "--max-body-bytes", "--shards", "--max-callouts-per-cluster", "--upstream-timeout", "--stream-idle-timeout",
        "--drain-time", "--drain-timeout", "--inline-io", "--request-id", "--plugin-log-level",
    };

    private static void Apply(ProxyOptions options, string flag, string value, HashSet<string> clustersSeen)
    {
        switch (flag)
        {
            case "--port": options.Port = Port(value, allowOff: false); break;
            case "--h2c-port": options.H2cPort = Port(value, allowOff: true); break;
            case "--admin-port": options.AdminPort = Port(value, allowOff: false); break;
            case "--listen":
                // Whole addresses only: IPAddress also reads inet_aton's short forms ("1.2.3" is 1.2.0.3).
                options.ListenAddress = (value.Contains(':', StringComparison.Ordinal) || value.Count(c => c == '.') == 3) && IPAddress.TryParse(value, out var address) ? address
                    : throw new FormatException($"'{value}' is not an IP address (0.0.0.0, 127.0.0.1, ::)");
                break;
            case "--upstream": AddCluster(options, ProxyOptions.DefaultCluster, value, clustersSeen); break;
            case "--cluster":
                var (name, url) = Pair(value, "NAME=URL");
                AddCluster(options, name, url, clustersSeen);
                break;
            case "--route":
                var (prefix, cluster) = Pair(value, "/PREFIX=CLUSTER");
                options.Routes.Add(prefix.StartsWith('/') ? new RouteOption(prefix, cluster)
                    : throw new FormatException($"'{value}': the prefix must start with '/'"));
                break;
            case "--plugins": options.PluginsFile = value; break;
            case "--node-id": options.NodeId = value; break;
            case "--node-label":
                var (key, label) = Pair(value, "KEY=VALUE", valueMayBeEmpty: true);
                options.NodeLabels[key] = label;
                break;
            case "--node-meta":
                var (metaKey, meta) = Pair(value, "KEY=VALUE", valueMayBeEmpty: true);
                options.NodeMetadata[metaKey] = metaKey != ProxyOptions.NodeLabelsKey ? meta
                    : throw new FormatException($"'{value}': {ProxyOptions.NodeLabelsKey} holds the workload's labels, give each with --node-label KEY=VALUE");
                break;
            case "--max-body-bytes": options.MaxBufferedBodyBytes = Integer(value, 0); break;
            case "--shards": options.ShardsPerPlugin = Integer(value, 1, 1024); break;
            case "--max-callouts-per-cluster": options.MaxCalloutsPerCluster = Integer(value, 1); break;
            case "--upstream-timeout": options.UpstreamTimeout = Seconds(value, allowZero: false); break;
            case "--stream-idle-timeout": options.StreamIdleTimeout = Seconds(value, allowZero: false); break;
            case "--drain-time": options.DrainTime = Seconds(value, allowZero: true); break;
            case "--drain-timeout": options.DrainTimeout = Seconds(value, allowZero: true); break;
            case "--inline-io": options.InlineIo = Boolean(value); break;
            case "--request-id": options.GenerateRequestId = Boolean(value); break;
            case "--plugin-log-level":
                options.PluginLogLevel = PluginLogLevels.TryParse(value, out var level) ? level
                    : throw new FormatException($"'{value}' is not a log level ({PluginLogLevels.Names})");
                break;
            default: throw new InvalidOperationException($"{flag} is known but not applied");
        }
    }

    /// <summary>Declares a cluster once; the default one (<c>--upstream</c>, or <c>--cluster upstream=…</c>) replaces its built-in address.</summary>
    private static void AddCluster(ProxyOptions options, string name, string url, HashSet<string> seen)
    {
        if (!seen.Add(name))
        {
            throw new FormatException(name == ProxyOptions.DefaultCluster
                ? "the default cluster is given twice (--upstream and --cluster upstream=… are the same)"
                : $"cluster '{name}' is declared twice");
        }

        if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new FormatException($"'{name}' is not a cluster name (letters, digits, '-', '_', '.')");
        }

        options.Clusters[name] = Url(url);
    }

    /// <summary>An absolute http or https URL with a host and nothing after its path: the base every forwarded path is appended to.</summary>
    private static Uri Url(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0 &&
        uri.Query.Length == 0 && uri.Fragment.Length == 0 && uri.UserInfo.Length == 0
            ? uri
            : throw new FormatException($"'{value}' is not an http:// or https:// URL with a host (like http://127.0.0.1:8080), without query or credentials");

    private static (string, string) Pair(string value, string shape, bool valueMayBeEmpty = false)
    {
        var at = value.IndexOf('=', StringComparison.Ordinal);
        return at > 0 && (valueMayBeEmpty || at < value.Length - 1)
            ? (value[..at], value[(at + 1)..])
            : throw new FormatException($"'{value}' is not {shape}");
    }

    private static int Port(string value, bool allowOff) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= 65535 && (port > 0 || allowOff)
            ? port
            : throw new FormatException($"'{value}' is not a port (1-65535{(allowOff ? ", or 0 for off" : "")})");

    private static int Integer(string value, int min, int max = int.MaxValue) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new FormatException($"'{value}' is not a whole number from {min}{(max == int.MaxValue ? " up" : $" to {max}")}");

    private static TimeSpan Seconds(string value, bool allowZero) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && double.IsFinite(seconds) &&
        (seconds > 0 || (allowZero && seconds == 0)) && seconds <= int.MaxValue / 1000.0
            ? TimeSpan.FromSeconds(seconds)
            : throw new FormatException($"'{value}' is not a number of seconds ({(allowZero ? "0" : "more than 0")} to {int.MaxValue / 1000})");

    private static bool Boolean(string value) =>
        bool.TryParse(value, out var b) ? b : throw new FormatException($"'{value}' is not true or false");

    private static (string Flag, string? Value) Split(string arg)
    {
        var at = arg.IndexOf('=', StringComparison.Ordinal);
        return arg.StartsWith("--", StringComparison.Ordinal) && at > 2 ? (arg[..at], arg[(at + 1)..]) : (arg, null);
    }
}

/// <summary>The command line's problems, each naming its flag.</summary>
internal sealed class ProxyArgumentsException(IReadOnlyList<string> problems)
    : Exception(string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;

    /// <summary>What the process prints before it exits with 2.</summary>
    public string Report()
    {
        var text = new StringBuilder();
        foreach (var problem in Problems)
        {
            text.Append("error: ").AppendLine(problem);
        }

        return text.Append("run with --help for every flag and its default").ToString();
    }
}
