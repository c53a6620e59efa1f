using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using WasmOperator.Modules;
using WasmOperator.Validation.Cel;

namespace WasmOperator.Operator.Configuration;

/// <summary>
/// Everything the operator is told at start: from a JSON file, then <c>WASMOP_*</c> environment variables,
/// then command-line flags (later wins). <see cref="Validate"/> lists every problem at once.
/// </summary>
internal sealed partial record OperatorOptions
{
    /// <summary>The shortest always-pull and cache collection interval: shorter is a typo (1ms for 1m), not a wish.</summary>
    public static readonly TimeSpan MinimumLoopInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>The namespace whose plugins apply to every namespace (Istio's root namespace).</summary>
    public string RootNamespace { get; init; } = "wasm-system";

    /// <summary>Namespaces to watch; empty watches all.</summary>
    public IReadOnlyList<string> WatchNamespaces { get; init; } = [];

    /// <summary>Registries (host or host:port) reached over plain HTTP.</summary>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];

    /// <summary>CIDRs modules and token realms may never be fetched from (on top of link-local and metadata).</summary>
    public IReadOnlyList<string> BlockedCidrs { get; init; } = [];

    /// <summary>Directories file:// modules may be read from; empty refuses file:// (development only).</summary>
    public IReadOnlyList<string> AllowedFileRoots { get; init; } = [];

    public string CacheDirectory { get; init; } = "/var/cache/wasm-operator";

    public long CacheMaxBytes { get; init; } = 4L * 1024 * 1024 * 1024;

    /// <summary>
    /// Largest module (and OCI layer holding it) fetched; 256 MiB as istio-agent's limit on Wasm downloads. A module must
    /// fit the cache too: the smaller of this and <see cref="CacheMaxBytes"/> applies.
    /// </summary>
    public long MaxModuleBytes { get; init; } = ModuleFetcherOptions.DefaultMaxModuleBytes;

    /// <summary>How often unpinned modules beyond <see cref="CacheMaxBytes"/> are collected (also after a plugin is deleted or replaced).</summary>
    public TimeSpan CacheGcInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Concurrent reconciles (different keys).</summary>
    public int Workers { get; init; } = 4;

    public bool LeaderElection { get; init; } = true;

    public string LeaseName { get; init; } = "wasm-operator";

    /// <summary>Namespace of the Lease; defaults to <see cref="RootNamespace"/>.</summary>
    public string? LeaseNamespace { get; init; }

    /// <summary>This replica's identity; defaults to the host name plus a random suffix.</summary>
    public string Identity { get; init; } = $"{Environment.MachineName}-{Guid.NewGuid().ToString("N")[..8]}";

    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan AlwaysPullInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>No working watch for this long turns /healthz red.</summary>
    public TimeSpan WatchStallThreshold { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan WatchReconnectBackoff { get; init; } = TimeSpan.FromMilliseconds(800);

    /// <summary>First per-item retry delay (client-go: 5 ms), doubled per failure up to <see cref="QueueMaxDelay"/>.</summary>
    public TimeSpan QueueBaseDelay { get; init; } = TimeSpan.FromMilliseconds(5);

    public TimeSpan QueueMaxDelay { get; init; } = TimeSpan.FromSeconds(1000);

    public double QueueQps { get; init; } = 10;

    public int QueueBurst { get; init; } = 100;

    /// <summary>Where /healthz, /readyz and /metrics listen.</summary>
    public string ListenAddress { get; init; } = "http://0.0.0.0:8080";

    /// <summary>
    /// Registry time limits, retries and circuit breaker, when not the fetcher's defaults. Not settings: the defaults
    /// (istio-agent's) suit; tests shorten them.
    /// </summary>
    internal RegistryTiming Registry { get; init; } = new();

    /// <summary>
    /// Extra roots trusted for https modules. Not a setting: the operator trusts its container's trust store
    /// (SSL_CERT_FILE); tests trust the CA they issue a server's certificates from.
    /// </summary>
    internal X509Certificate2Collection? TrustedCertificates { get; init; }

    public string EffectiveLeaseNamespace => LeaseNamespace ?? RootNamespace;

    /// <summary>Throws <see cref="OptionsException"/> naming every invalid setting and what to do.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        foreach (var (name, ns) in Namespaces())
        {
            if (!Dns1123Label().IsMatch(ns))
            {
                problems.Add($"{name}: \"{ns}\" is not a valid namespace name (lowercase letters, digits and '-', at most 63 characters)");
            }
        }

        foreach (var cidr in BlockedCidrs)
        {
            if (!IPNetwork.TryParse(cidr, out _))
            {
                problems.Add($"blocked-cidrs: \"{cidr}\" is not a CIDR such as 10.0.0.0/8");
            }
        }

        foreach (var host in InsecureRegistries)
        {
            if (string.IsNullOrWhiteSpace(host) || host.Contains('/', StringComparison.Ordinal))
            {
                problems.Add($"insecure-registries: \"{host}\" must be a host or host:port, without scheme or path");
            }
        }

        foreach (var root in AllowedFileRoots)
        {
            if (!Path.IsPathFullyQualified(root))
            {
                problems.Add($"allowed-file-roots: \"{root}\" must be an absolute path");
            }
        }

        if (string.IsNullOrWhiteSpace(CacheDirectory) || !Path.IsPathFullyQualified(CacheDirectory))
        {
            problems.Add($"cache-directory: \"{CacheDirectory}\" must be an absolute path");
        }

        if (CacheMaxBytes < 1024 * 1024)
        {
            problems.Add($"cache-max-bytes: {CacheMaxBytes} is below the 1 MiB minimum");
        }

        if (MaxModuleBytes < 1)
        {
            problems.Add($"max-module-bytes: {MaxModuleBytes} must be positive");
        }

        if (Workers is < 1 or > 256)
        {
            problems.Add($"workers: {Workers} must be between 1 and 256");
        }

        if (LeaseDuration <= RenewDeadline)
        {
            problems.Add($"lease-duration ({GoDuration.Format(LeaseDuration)}) must be greater than renew-deadline ({GoDuration.Format(RenewDeadline)})");
        }

        if (RenewDeadline <= RetryPeriod * 1.2)
        {
            problems.Add($"renew-deadline ({GoDuration.Format(RenewDeadline)}) must be greater than 1.2 × retry-period ({GoDuration.Format(RetryPeriod)})");
        }

        foreach (var (name, value) in new[] { ("retry-period", RetryPeriod), ("watch-stall-threshold", WatchStallThreshold), ("watch-reconnect-backoff", WatchReconnectBackoff), ("queue-base-delay", QueueBaseDelay) })
        {
            if (value <= TimeSpan.Zero)
            {
                problems.Add($"{name} ({GoDuration.Format(value)}) must be positive");
            }
        }

        // Loops that hit a registry or the disk each time: 1ms typed for 1m re-pulled a thousand times a second.
        foreach (var (name, value) in new[] { ("always-pull-interval", AlwaysPullInterval), ("cache-gc-interval", CacheGcInterval) })
        {
            if (value < MinimumLoopInterval)
            {
                problems.Add($"{name} ({GoDuration.Format(value)}) must be at least {GoDuration.Format(MinimumLoopInterval)}");
            }
        }

        if (WatchTimeout < TimeSpan.FromSeconds(1))
        {
            problems.Add($"watch-timeout ({GoDuration.Format(WatchTimeout)}) must be at least 1s");
        }

        if (QueueMaxDelay < QueueBaseDelay)
        {
            problems.Add($"queue-max-delay ({GoDuration.Format(QueueMaxDelay)}) must be at least queue-base-delay ({GoDuration.Format(QueueBaseDelay)})");
        }

        if (QueueQps <= 0)
        {
            problems.Add($"queue-qps ({QueueQps}) must be positive");
        }

        if (QueueBurst < 1)
        {
            problems.Add($"queue-burst ({QueueBurst}) must be at least 1");
        }

        if (string.IsNullOrWhiteSpace(Identity))
        {
            problems.Add("identity must not be empty");
        }

        if (!Uri.TryCreate(ListenAddress, UriKind.Absolute, out var listen) || listen.Scheme is not ("http" or "https"))
        {
            problems.Add($"listen-address: \"{ListenAddress}\" must be a URL such as http://0.0.0.0:8080");
        }

        if (problems.Count > 0)
        {
            throw new OptionsException(problems);
        }
    }

    private IEnumerable<(string Name, string Value)> Namespaces()
    {
        yield return ("root-namespace", RootNamespace);
        if (LeaseNamespace is not null)
        {
            yield return ("lease-namespace", LeaseNamespace);
        }

        foreach (var ns in WatchNamespaces)
        {
            yield return ("watch-namespaces", ns);
        }
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    private static partial Regex Dns1123Label();
}
