using System.Net;
using System.Security.Cryptography.X509Certificates;
using Prometheus;

namespace WasmOperator.Modules;

/// <summary>Settings of the fetcher; <see cref="Validate"/> runs when the fetcher is created.</summary>
public sealed class ModuleFetcherOptions
{
    /// <summary>Default maximum module size: 256 MiB.</summary>
    public const long DefaultMaxModuleBytes = 256L * 1024 * 1024;

    /// <summary>Directory of the content-addressed cache (created if missing).</summary>
    public required string CacheDirectory { get; init; }

    /// <summary>Largest module (and largest layer holding it) accepted.</summary>
    public long MaxModuleBytes { get; init; } = DefaultMaxModuleBytes;

    /// <summary>What a user changes to raise <see cref="MaxModuleBytes"/>, named in the too-large error (the host knows its own flags).</summary>
    public string MaxModuleBytesSetting { get; init; } = "the fetcher's MaxModuleBytes";

    /// <summary>Cache size above which unpinned modules are evicted, least recently used first.</summary>
    public long MaxCacheBytes { get; init; } = 4L * 1024 * 1024 * 1024;

    /// <summary>Hosts (<c>host</c> or <c>host:port</c>) reached over plain HTTP: registries and <c>http://</c> URLs.</summary>
    public IReadOnlyList<string> InsecureHosts { get; init; } = [];

    /// <summary>Extra CIDRs refused for fetches, redirects and token realms (on top of link-local and metadata).</summary>
    public IReadOnlyList<string> BlockedNetworks { get; init; } = [];

    /// <summary>Directories <c>file://</c> URLs may read from; empty refuses <c>file://</c>.</summary>
    public IReadOnlyList<string> AllowedFileRoots { get; init; } = [];

    /// <summary>Extra certificates trusted as roots for https (e.g. a private CA or a test's self-signed cert).</summary>
    public X509Certificate2Collection? TrustedCertificates { get; init; }

    /// <summary>
    /// Time limit from sending one HTTP request to its response head, connect included: a registry that accepts the
    /// connection and never answers fails the attempt then, not after minutes (istio-agent's Wasm HTTP fetcher allows
    /// a request only seconds too, DefaultWasmHTTPRequestTimeout, with 5 retries).
    /// </summary>
    public TimeSpan ResponseHeadersTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Longest pause in a response body. Not a limit of the whole body: a big module on a slow link still finishes,
    /// within <see cref="FetchTimeout"/>.
    /// </summary>
    public TimeSpan BodyIdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Time limit of one whole fetch, retries included.</summary>
    public TimeSpan FetchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Retries after the first attempt on transport errors, 5xx and 429.</summary>
    public int MaxRetries { get; init; } = 4;

    /// <summary>First backoff delay; doubles each retry, with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Cap of one backoff delay.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Failed attempts in a row (transport errors, timeouts, 5xx, 429; across all fetches) that open a registry's
    /// circuit breaker; a fetch that uses up its retries opens it too. While open, fetches from that registry fail at once.
    /// </summary>
    public int CircuitBreakerFailures { get; init; } = 5;

    /// <summary>How long a registry's breaker stays open first; then one fetch probes it. Doubles while the probes fail.</summary>
    public TimeSpan CircuitBreakerCooldown { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest a registry's breaker stays open between probes.</summary>
    public TimeSpan CircuitBreakerMaxCooldown { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long a registry's answer that a credential may pull a manifest is trusted: within it the cached module is
    /// served to that credential without asking the registry, after a restart too (the answers are kept in the
    /// cache directory, the credentials only as an HMAC). Past it the registry is asked again.
    /// </summary>
    public TimeSpan PullVerificationLifetime { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Clock of <see cref="PullVerificationLifetime"/>; tests pass a fake one.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Registry the metrics go to; null = prometheus-net's default registry.</summary>
    public CollectorRegistry? MetricsRegistry { get; init; }

    /// <summary>User-Agent sent with every request.</summary>
    public string UserAgent { get; init; } = "wasmoperator-fetcher/0.1";

    /// <summary>The error for a module of at least <paramref name="size"/> bytes, over <see cref="MaxModuleBytes"/>.</summary>
    internal Failures.ModuleTooLargeException TooLarge(string url, long size) => new(url, size, MaxModuleBytes, MaxModuleBytesSetting);

    /// <summary>Throws <see cref="ArgumentException"/> listing every invalid setting.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(CacheDirectory))
        {
            problems.Add("CacheDirectory must be set");
        }

        if (MaxModuleBytes <= 0)
        {
            problems.Add($"MaxModuleBytes must be positive (is {MaxModuleBytes})");
        }

        if (MaxCacheBytes < MaxModuleBytes)
        {
            problems.Add($"MaxCacheBytes ({MaxCacheBytes}) must be at least MaxModuleBytes ({MaxModuleBytes})");
        }

        if (ResponseHeadersTimeout <= TimeSpan.Zero || BodyIdleTimeout <= TimeSpan.Zero || FetchTimeout <= TimeSpan.Zero)
        {
            problems.Add("ResponseHeadersTimeout, BodyIdleTimeout and FetchTimeout must be positive");
        }

        if (PullVerificationLifetime <= TimeSpan.Zero)
        {
            problems.Add($"PullVerificationLifetime must be positive (is {PullVerificationLifetime})");
        }

        if (MaxRetries is < 0 or > 20)
        {
            problems.Add($"MaxRetries must be between 0 and 20 (is {MaxRetries})");
        }

        if (CircuitBreakerFailures < 1)
        {
            problems.Add($"CircuitBreakerFailures must be at least 1 (is {CircuitBreakerFailures})");
        }

        if (CircuitBreakerCooldown <= TimeSpan.Zero || CircuitBreakerMaxCooldown < CircuitBreakerCooldown)
        {
            problems.Add("CircuitBreakerCooldown must be positive and CircuitBreakerMaxCooldown >= CircuitBreakerCooldown");
        }

        if (RetryBaseDelay < TimeSpan.Zero || RetryMaxDelay < RetryBaseDelay)
        {
            problems.Add("RetryBaseDelay must be >= 0 and RetryMaxDelay >= RetryBaseDelay");
        }

        foreach (var cidr in BlockedNetworks)
        {
            if (!IPNetwork.TryParse(cidr, out _))
            {
                problems.Add($"BlockedNetworks entry '{cidr}' is not a CIDR such as 10.0.0.0/8");
            }
        }

        foreach (var host in InsecureHosts)
        {
            if (string.IsNullOrWhiteSpace(host) || host.Contains('/', StringComparison.Ordinal))
            {
                problems.Add($"InsecureHosts entry '{host}' must be a host or host:port");
            }
        }

        foreach (var root in AllowedFileRoots)
        {
            if (!System.IO.Path.IsPathFullyQualified(root))
            {
                problems.Add($"AllowedFileRoots entry '{root}' must be an absolute path");
            }
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid module fetcher options: " + string.Join("; ", problems));
        }
    }
}
