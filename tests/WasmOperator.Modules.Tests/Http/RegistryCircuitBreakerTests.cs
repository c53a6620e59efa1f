using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Prometheus;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Tests.Fixtures;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Modules.Tests.Http;

public sealed class RegistryCircuitBreakerTests(RegistryFixture fixture) : IClassFixture<RegistryFixture>, IDisposable
{
    private static readonly TimeSpan Cooldown = TimeSpan.FromHours(1);
    private readonly TempDirectory _cache = new();
    private readonly RegistryPusher _push = new(fixture.Registry.BaseUri);
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 7, 8, 0, 0, TimeSpan.Zero));
    private readonly CollectorRegistry _metrics = Prometheus.Metrics.NewCustomRegistry();
    private readonly LineLogger _log = new();

    public void Dispose()
    {
        _push.Dispose();
        _cache.Dispose();
    }

    // Short response timeouts, a breaker opened by 3 failures in a row, and a cooldown only the fake clock ends.
    private ModuleFetcherOptions Options(string host, int maxRetries = 4, int failures = 3) => new()
    {
        CacheDirectory = _cache.Path,
        InsecureHosts = [host],
        MetricsRegistry = _metrics,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        RetryMaxDelay = TimeSpan.FromMilliseconds(50),
        ResponseHeadersTimeout = TimeSpan.FromMilliseconds(300),
        MaxRetries = maxRetries,
        CircuitBreakerFailures = failures,
        CircuitBreakerCooldown = Cooldown,
        CircuitBreakerMaxCooldown = Cooldown * 4,
        TimeProvider = _clock,
    };

    [Fact]
    public async Task A_registry_that_never_answers_is_opened_after_the_threshold_and_then_fails_fetches_at_once_without_connecting()
    {
        await using var front = new TcpCutter(fixture.Registry.BaseUri);
        var host = front.Url.Authority;
        front.Silence();
        using var fetcher = new ModuleFetcher(Options(host), _log);

        // The first fetch stops at the third failed attempt, not after its five.
        var first = await Assert.ThrowsAsync<RegistryUnavailableException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/silent:v1" }, default));
        Assert.Equal(3, front.Held);
        var second = await Assert.ThrowsAsync<RegistryUnavailableException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/other:v1" }, default));
        await Assert.ThrowsAsync<RegistryUnavailableException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/third:v1" }, default));

        Assert.Equal(3, front.Held);
        Assert.Single(_log.Lines, l => l.StartsWith($"Registry {host} is failing (3 attempts in a row", StringComparison.Ordinal));
        Assert.Equal(host, second.Host);
        Assert.Equal(_clock.GetUtcNow() + Cooldown, second.RetryAt);
        Assert.StartsWith($"oci://{host}/breaker/other:v1: registry {host} is not reachable: every attempt since 2026-12-07T08:00:00Z failed, the last with: ", second.Message, StringComparison.Ordinal);
        Assert.Contains("did not answer within 300 ms", second.Message, StringComparison.Ordinal);
        Assert.Contains("not tried again until 2026-12-07T09:00:00Z (in 60 min 0 s)", second.Message, StringComparison.Ordinal);
        Assert.Equal("registry_unavailable", first.Result);
        var text = await MetricsTextAsync();
        Assert.Contains($"wasmoperator_registry_circuit_open{{registry=\"{host}\"}} 1", text, StringComparison.Ordinal);
        Assert.Contains($"wasmoperator_registry_circuit_fast_failures_total{{registry=\"{host}\"}} 3", text, StringComparison.Ordinal);
        Assert.Contains("wasmoperator_module_fetches_total{result=\"registry_unavailable\"} 3", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task After_the_cooldown_one_probe_fetch_goes_to_the_registry_and_its_success_closes_the_breaker()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("breaker/recovers", "v1", module);
        await using var front = new TcpCutter(fixture.Registry.BaseUri);
        var host = front.Url.Authority;
        var url = $"oci://{host}/breaker/recovers:v1";
        front.Silence();
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 0, failures: 1), _log);
        await Assert.ThrowsAsync<ManifestFailureException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));

        // A probe that fails opens it again for twice as long.
        _clock.Advance(Cooldown);
        await Assert.ThrowsAsync<ManifestFailureException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));
        Assert.Equal(2, front.Held);
        var reopened = await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));
        Assert.Equal(_clock.GetUtcNow() + (Cooldown * 2), reopened.RetryAt);

        front.Resume();
        var refused = await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));
        _clock.Advance(Cooldown * 2);
        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = url }, default);

        Assert.Equal(reopened.RetryAt, refused.RetryAt);
        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        Assert.Contains($"wasmoperator_registry_circuit_open{{registry=\"{host}\"}} 0", await MetricsTextAsync(), StringComparison.Ordinal);
        Assert.Single(_log.Lines, l => l.StartsWith($"Registry {host} is failing", StringComparison.Ordinal));
        Assert.Single(_log.Lines, l => l.StartsWith($"Registry {host} answers again (failing since 2026-12-07 08:00:00Z)", StringComparison.Ordinal));
        // Closed: a failure now starts a new count, it does not reopen at once with the doubled cooldown.
        front.Silence();
        await Assert.ThrowsAsync<ManifestFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/recovers:v2" }, default));
        var again = await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/recovers:v2" }, default));
        Assert.Equal(_clock.GetUtcNow() + Cooldown, again.RetryAt);
    }

    [Fact]
    public async Task A_404_is_an_answer_it_neither_opens_the_breaker_nor_fails_a_probe()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("breaker/answers", "v1", module);
        await using var front = new TcpCutter(fixture.Registry.BaseUri);
        var host = front.Url.Authority;
        var absent = $"oci://{host}/breaker/answers:absent";
        // One failure opens it: a 404 counted as one would.
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 0, failures: 1));

        for (var i = 0; i < 3; i++)
        {
            var notFound = await Assert.ThrowsAsync<ManifestFailureException>(() => fetcher.FetchAsync(new ModuleRequest { Url = absent }, default));
            Assert.Contains("was not found (404", notFound.Message, StringComparison.Ordinal);
        }

        front.Silence();
        await Assert.ThrowsAsync<ManifestFailureException>(() => fetcher.FetchAsync(new ModuleRequest { Url = absent }, default));
        await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(new ModuleRequest { Url = absent }, default));
        front.Resume();
        _clock.Advance(Cooldown);
        // The probe gets a 404: the registry answers, so the next fetch goes ahead.
        var probe = await Assert.ThrowsAsync<ManifestFailureException>(() => fetcher.FetchAsync(new ModuleRequest { Url = absent }, default));
        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/answers:v1" }, default);

        Assert.Contains("was not found (404", probe.Message, StringComparison.Ordinal);
        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
    }

    private async Task<string> MetricsTextAsync()
    {
        using var stream = new MemoryStream();
        await _metrics.CollectAndExportAsTextAsync(stream);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Keeps the fetcher's log lines (Information and up).</summary>
    private sealed class LineLogger : ILogger<ModuleFetcher>
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Lines.Enqueue(formatter(state, exception));
            }
        }
    }
}
