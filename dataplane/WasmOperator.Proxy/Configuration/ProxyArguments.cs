using System.Globalization;
using System.Net;
using System.Text;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy.Configuration;

/// <summary>
/// The proxy's command line: <c>--name value</c> or <c>--name=value</c>, every problem collected and named by its flag
/// (a bad value, a missing one, an unknown flag, a route to a cluster nobody declared) before anything starts, so that
/// one run shows all of them.
/// </summary>
internal static class ProxyArguments
{
    private const string Help = "--help";

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

            if (!ByName.TryGetValue(flag, out var known))
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
                known.Apply(options, value, clustersSeen);
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

        var ports = new[] { ("--port", options.Port), ("--h2c-port", options.H2cPort), ("--admin-port", options.AdminPort), ("--status-port", options.StatusPort) }
            .Where(p => p.Item2 != 0).GroupBy(p => p.Item2).Where(g => g.Count() > 1);
        foreach (var shared in ports)
        {
            problems.Add($"{string.Join(" and ", shared.Select(p => p.Item1))}: all {shared.Key}; each listener needs a port of its own");
        }

        return problems.Count > 0 ? throw new ProxyArgumentsException(problems) : options;
    }

    /// <summary>How a flag sets the options from its value (a <see cref="FormatException"/> says what is wrong with it).</summary>
    private delegate void Setter(ProxyOptions options, string value, HashSet<string> clustersSeen);

    /// <summary>A flag: its name, what <c>--help</c> says of it (value, meaning, default), and how it applies.</summary>
    private sealed record Flag(string Name, string Value, string Meaning, Setter Apply);

    /// <summary>Every flag, in the order <c>--help</c> lists them: the one list the parser and the usage text read.</summary>
    private static readonly Flag[] Flags =
    [
        new("--port", "N", "HTTP/1.1 data port (15001)", (o, v, _) => o.Port = Port(v, allowOff: false)),
        new("--h2c-port", "N", "HTTP/2 prior-knowledge data port for gRPC (15002; 0 = off)", (o, v, _) => o.H2cPort = Port(v, allowOff: true)),
        new("--admin-port", "N", "admin port: /ready /healthz /config_dump /logging /stats/prometheus (15000)", (o, v, _) => o.AdminPort = Port(v, allowOff: false)),
        new("--admin-address", "ADDRESS", "address the admin port binds to (127.0.0.1)", (o, v, _) => o.AdminAddress = Address(v)),
        new("--status-port", "N", "probes and scrapes on --listen: /ready /healthz /healthz/ready /stats/prometheus (15021; 0 = off)",
            (o, v, _) => o.StatusPort = Port(v, allowOff: true)),
        new("--listen", "ADDRESS", "address the data and status ports bind to (0.0.0.0)", (o, v, _) => o.ListenAddress = Address(v)),
        new("--upstream", "URL", "the default cluster, where unrouted requests go (http://127.0.0.1:8080)",
            (o, v, seen) => AddCluster(o, ProxyOptions.DefaultCluster, v, seen)),
        new("--cluster", "NAME=URL", "a named cluster, for --route and plugin callouts (repeatable)", (o, v, seen) =>
        {
            var (name, url) = Pair(v, "NAME=URL");
            AddCluster(o, name, url, seen);
        }),
        new("--route", "/PREFIX=CLUSTER", "requests under PREFIX go to CLUSTER, first match wins (repeatable)", (o, v, _) =>
        {
            var (prefix, cluster) = Pair(v, "/PREFIX=CLUSTER");
            o.Routes.Add(prefix.StartsWith('/') ? new RouteOption(prefix, cluster) : throw new FormatException($"'{v}': the prefix must start with '/'"));
        }),
        new("--plugins", "FILE", "stand-alone mode: YAML plugin set, watched and hot-reloaded", (o, v, _) => o.PluginsFile = v),
        new("--node-id", "ID", "the node id plugins read as node.id (the host name)", (o, v, _) => o.NodeId = v),
        new("--node-label", "KEY=VALUE", "a workload label, read by plugins as node.metadata.LABELS.KEY (repeatable)", (o, v, _) =>
        {
            var (key, label) = Pair(v, "KEY=VALUE", valueMayBeEmpty: true);
            o.NodeLabels[key] = label;
        }),
        new("--node-meta", "KEY=VALUE", "node metadata as Istio's (NAMESPACE, WORKLOAD_NAME, CLUSTER_ID, ...), read as node.metadata.KEY (repeatable)", (o, v, _) =>
        {
            var (key, meta) = Pair(v, "KEY=VALUE", valueMayBeEmpty: true);
            o.NodeMetadata[key] = key != ProxyOptions.NodeLabelsKey ? meta
                : throw new FormatException($"'{v}': {ProxyOptions.NodeLabelsKey} holds the workload's labels, give each with --node-label KEY=VALUE");
        }),
        new("--max-body-bytes", "N", "largest body buffered for a plugin; a larger request gets 413 (1048576)", (o, v, _) => o.MaxBufferedBodyBytes = Integer(v, 0)),
        new("--max-deferred-body-bytes", "N", "most body bytes kept, proxy-wide, for LOG_ONLY plugins whose request-headers pause is unresolved; past it a body is dropped for its plugin (67108864)",
            (o, v, _) => o.MaxDeferredBodyBytes = Integer(v, 0)),
        new("--max-request-headers-kb", "N", "largest request line, and header fields together, in KiB; larger gets 414 or 431 (60)",
            (o, v, _) => o.MaxRequestHeadersKb = Integer(v, 1, 8192)),
        new("--max-concurrent-streams", "N", "HTTP/2 streams one client connection may have open at once (1024)",
            (o, v, _) => o.MaxConcurrentStreams = Integer(v, 1)),
        new("--max-connections", "N", "client connections open at once on each data port, and upgraded ones apart; more are closed as they arrive (a sixth of the open-file limit, less 256, after raising it to the hard limit)",
            (o, v, _) => o.MaxConnections = Integer(v, 1)),
        new("--shards", "N", "VMs per plugin (one per core)", (o, v, _) => o.ShardsPerPlugin = Integer(v, 1, 1024)),
        new("--max-callouts-per-cluster", "N", "plugin callouts one cluster may have in flight (2048)", (o, v, _) => o.MaxCalloutsPerCluster = Integer(v, 1)),
        new("--max-callout-response-bytes", "N", "largest callout response body read for a plugin, and most a gRPC stream's sent messages wait for the upstream; more fails the callout (33554432)", (o, v, _) => o.MaxCalloutResponseBytes = Integer(v, 0)),
        new("--connect-timeout", "SECONDS", "longest wait for a connection to an upstream or a callout's cluster; then 503 (10)", (o, v, _) => o.ConnectTimeout = Seconds(v, allowZero: false)),
        new("--upstream-timeout", "SECONDS", "an ordinary request's upstream moving no byte (100)", (o, v, _) => o.UpstreamTimeout = Seconds(v, allowZero: false)),
        new("--stream-idle-timeout", "SECONDS", "gRPC calls and upgraded streams moving no byte either way (300)", (o, v, _) => o.StreamIdleTimeout = Seconds(v, allowZero: false)),
        new("--idle-timeout", "SECONDS", "a client connection with no request under way this long is closed (3600)",
            (o, v, _) => o.IdleTimeout = Seconds(v, allowZero: false)),
        new("--drain-time", "SECONDS", "on SIGTERM, how long the listeners keep accepting while not ready (5)", (o, v, _) => o.DrainTime = Seconds(v, allowZero: true)),
        new("--drain-timeout", "SECONDS", "then, how long in-flight requests may take before they are aborted (20)", (o, v, _) => o.DrainTimeout = Seconds(v, allowZero: true)),
        new("--plugin-log-level", "LEVEL", "lowest plugin log level written: trace debug info warning error critical off (info)", (o, v, _) =>
            o.PluginLogLevel = PluginLogLevels.TryParse(v, out var level) ? level : throw new FormatException($"'{v}' is not a log level ({PluginLogLevels.Names})")),
        new("--wasm-profiler", "none|perfmap|jitdump", "publish the plugins' compiled functions for Linux perf: /tmp/perf-<pid>.map, or jit-<pid>.dump in the working directory (none)",
            (o, v, _) => o.WasmProfiling = v.ToLowerInvariant() switch
            {
                "none" => WasmProfiling.None,
                "perfmap" => WasmProfiling.PerfMap,
                "jitdump" => WasmProfiling.JitDump,
                _ => throw new FormatException($"'{v}' is not a profiler (none, perfmap, jitdump)"),
            }),
        new("--inline-io", "true|false", "run requests and plugins on the socket event threads (true)", (o, v, _) => o.InlineIo = Boolean(v)),
        new("--http1-forwarder", "true|false", "plain-HTTP clusters through the proxy's own HTTP/1.1 forwarder; false: through YARP (true)",
            (o, v, _) => o.Http1Forwarder = Boolean(v)),
        new("--request-id", "true|false", "give a request without x-request-id a random one (true)", (o, v, _) => o.GenerateRequestId = Boolean(v)),
    ];

    private static readonly Dictionary<string, Flag> ByName = Flags.ToDictionary(f => f.Name, StringComparer.Ordinal);

    /// <summary>What <c>--help</c> prints: every flag with its default.</summary>
    public static readonly string Usage = string.Join('\n',
        Flags.Select(f => $"  {(f.Name + " " + f.Value).PadRight(29)} {f.Meaning}")
            .Prepend("Usage: WasmOperator.Proxy [flags]   (--name value or --name=value)")
            .Append($"  {Help.PadRight(29)} this text"));

    /// <summary>Whole addresses only: IPAddress also reads inet_aton's short forms ("1.2.3" is 1.2.0.3).</summary>
    private static IPAddress Address(string value) =>
        (value.Contains(':', StringComparison.Ordinal) || value.Count(c => c == '.') == 3) && IPAddress.TryParse(value, out var address)
            ? address
            : throw new FormatException($"'{value}' is not an IP address (0.0.0.0, 127.0.0.1, ::)");

    /// <summary>Declares a cluster once; the default one (<c>--upstream</c>, or <c>--cluster upstream=…</c>) replaces its built-in address.</summary>
    private static void AddCluster(ProxyOptions options, string name, string url, HashSet<string> seen)
    {
        if (!seen.Add(name))
        {
            throw new FormatException(name == ProxyOptions.DefaultCluster
                ? "the default cluster is given twice (--upstream and --cluster upstream=… are the same)"
                : $"cluster '{name}' is declared twice");
        }

        // Envoy takes any name; Istio's have '|' (outbound|8080||authz.auth-system.svc.cluster.local), and plugins moved
        // from Istio call out to them by that name. Only what would garble a log line or the flag itself is refused.
        if (name.Length == 0 || !name.All(c => c is > ' ' and <= '~'))
        {
            throw new FormatException($"'{name}' is not a cluster name (visible ASCII, no spaces; like auth or outbound|8080||authz.auth.svc.cluster.local)");
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
