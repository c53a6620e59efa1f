using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Http;
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

    // Short response timeouts, a breaker opened by 3 failures in a row, and a cooldown only the fake clock ends. Tests
    // whose server answers (a FaultProxy) pass patient: a slow first answer on a busy machine must not count as a failure.
    // Patient: a test that needs the registry's answer waits for it; 300 ms, which fails a silent registry fast, was too
    // short for a cold first answer on a loaded machine, and the breaker opened where the test expected an answer.
    // Tests that cut the registry and then need its answers refuse connections instead of holding them, which fails at once.
    private ModuleFetcherOptions Options(string host, int maxRetries = 4, int failures = 3, string? storage = null, bool patient = false) => new()
    {
        CacheDirectory = _cache.Path,
        InsecureHosts = storage is null ? [host] : [host, storage],
        MetricsRegistry = _metrics,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        RetryMaxDelay = TimeSpan.FromMilliseconds(50),
        ResponseHeadersTimeout = patient ? TimeSpan.FromSeconds(30) : TimeSpan.FromMilliseconds(300),
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
        // Later in the same open period: the same message, so the reconciler finds nothing new to write.
        _clock.Advance(TimeSpan.FromSeconds(5));
        var third = await Assert.ThrowsAsync<RegistryUnavailableException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/other:v1" }, default));

        Assert.Equal(3, front.Held);
        Assert.Single(_log.Lines, l => l.StartsWith($"Registry {host} is failing (3 attempts in a row", StringComparison.Ordinal));
        Assert.Equal(host, second.Host);
        Assert.Equal(new DateTimeOffset(2026, 12, 7, 9, 0, 0, TimeSpan.Zero), second.RetryAt);
        Assert.StartsWith($"oci://{host}/breaker/other:v1: registry {host} did not answer within 300 ms: 3 attempts in a row since 2026-12-07T08:00:00Z failed, the last with: ", second.Message, StringComparison.Ordinal);
        Assert.Contains("not tried again until 2026-12-07T09:00:00Z (UTC), ", second.Message, StringComparison.Ordinal);
        Assert.Equal(second.Message, third.Message);
        Assert.False(second.ProbeOut);
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
        front.Pause();
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 0, failures: 1, patient: true), _log);
        await Assert.ThrowsAsync<ManifestFailureException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));

        // A probe that fails opens it again for twice as long.
        _clock.Advance(Cooldown);
        await Assert.ThrowsAsync<ManifestFailureException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));
        // Both reached the registry (HttpClient may try a connection reset on arrival once more: at least one each).
        Assert.True(front.Refused >= 2, $"{front.Refused} connections reached the registry");
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
    }

    [Fact]
    public async Task Fetches_refused_while_the_probe_is_out_all_name_the_same_time_of_the_next_try()
    {
        await using var front = new TcpCutter(fixture.Registry.BaseUri);
        var host = front.Url.Authority;
        var url = $"oci://{host}/breaker/probing:v1";
        front.Pause();
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 0, failures: 1, patient: true), _log);
        await Assert.ThrowsAnyAsync<ModuleFetchException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));

        // The probe is held by a silent registry; the fetches behind it are refused, seconds apart.
        front.Resume();
        front.Silence();
        _clock.Advance(Cooldown);
        var probe = fetcher.FetchAsync(new ModuleRequest { Url = url }, default);
        using (var waited = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            // Until the probe has reached the registry, a fetch would be the probe itself.
            while (front.Held == 0)
            {
                await Task.Delay(10, waited.Token);
            }
        }

        // Another URL: one of the probe's would join the probe's fetch.
        var behind = new ModuleRequest { Url = $"oci://{host}/breaker/behind:v1" };
        var first = await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(behind, default));
        _clock.Advance(TimeSpan.FromSeconds(5));
        var second = await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(behind, default));
        // Cut and refused: HttpClient's retry of a connection reset on arrival is refused too, not held.
        front.Pause();
        await Assert.ThrowsAnyAsync<ModuleFetchException>(() => probe);

        Assert.Equal(first.RetryAt, second.RetryAt);
        Assert.Equal(first.Message, second.Message);
        Assert.True(first.ProbeOut);
    }

    [Fact]
    public async Task A_registry_that_answers_one_probe_and_fails_again_is_ejected_for_longer_each_time_until_it_stays_healthy()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("breaker/flaps", "v1", module);
        await using var front = new TcpCutter(fixture.Registry.BaseUri);
        var host = front.Url.Authority;
        var request = new ModuleRequest { Url = $"oci://{host}/breaker/flaps:v1", PullPolicy = ModulePullPolicy.Always };
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 0, failures: 1, patient: true), _log);
        var retryAts = new List<TimeSpan>();
        for (var i = 0; i < 3; i++)
        {
            front.Pause();
            await Assert.ThrowsAsync<ManifestFailureException>(() => fetcher.FetchAsync(request, default));
            var refused = await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(request, default));
            retryAts.Add(refused.RetryAt - _clock.GetUtcNow());

            // The probe is answered: closed, but its ejections are remembered.
            _clock.Advance(refused.RetryAt - _clock.GetUtcNow());
            front.Resume();
            await fetcher.FetchAsync(request, default);
        }

        // Healthy for a maximum cooldown: the next failure opens it for the base cooldown again.
        _clock.Advance(Cooldown * 4);
        await fetcher.FetchAsync(request, default);
        front.Pause();
        await Assert.ThrowsAsync<ManifestFailureException>(() => fetcher.FetchAsync(request, default));
        var fresh = await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(request, default));

        Assert.Equal([Cooldown, Cooldown * 2, Cooldown * 3], retryAts);
        Assert.Equal(_clock.GetUtcNow() + Cooldown, fresh.RetryAt);
    }

    [Fact]
    public async Task A_repository_that_answers_500_does_not_open_its_registry_while_the_others_answer()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("breaker/healthy", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.FailingRepository = "breaker/broken";
        var host = proxy.HostPort;
        // One failure in a row would open it: a 500 counted as one would.
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 2, failures: 1, patient: true));

        for (var i = 0; i < 2; i++)
        {
            var broken = await Assert.ThrowsAsync<ManifestFailureException>(() =>
                fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/broken:v1", PullPolicy = ModulePullPolicy.Always }, default));
            var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/healthy:v1", PullPolicy = ModulePullPolicy.Always }, default);

            Assert.Contains("answered 500 (after 3 attempts)", broken.Message, StringComparison.Ordinal);
            Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        }
    }

    [Fact]
    public async Task A_fetch_that_uses_up_its_retries_does_not_open_the_registry_when_it_failed_fewer_times_than_the_threshold()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("breaker/fine", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.FailingRepository = "breaker/unavailable";
        proxy.FailingRepositoryStatus = 503;
        var host = proxy.HostPort;
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 1, failures: 3, patient: true));

        for (var i = 0; i < 2; i++)
        {
            // Two 503s in a row, then an answer: the count starts again.
            await Assert.ThrowsAsync<ManifestFailureException>(() => fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/unavailable:v1" }, default));
            var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/fine:v1", PullPolicy = ModulePullPolicy.Always }, default);

            Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        }
    }

    [Fact]
    public async Task A_registry_that_answers_503_is_opened_with_a_message_that_says_so()
    {
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.FailNext(int.MaxValue, 503);
        var host = proxy.HostPort;
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 4, failures: 3, patient: true));

        var opened = await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/down:v1" }, default));

        Assert.Equal(3, proxy.Requests);
        Assert.StartsWith($"oci://{host}/breaker/down:v1: registry {host} answered 503: 3 attempts in a row since 2026-12-07T08:00:00Z failed, the last with: ", opened.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_blob_that_arrives_corrupt_is_retried_without_counting_against_its_registry()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("breaker/corrupt", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.FaultBlobs(FaultProxy.BlobFault.Corrupt, 2);
        var host = proxy.HostPort;
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 4, failures: 1, patient: true));

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/corrupt:v1" }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        Assert.Equal(3, proxy.BlobGets);
    }

    [Fact]
    public async Task A_registry_that_refuses_connections_is_opened_with_a_message_that_says_so()
    {
        var host = $"127.0.0.1:{FreePort.Next()}";
        // Patient: a refusal is immediate, and a 300 ms timeout running out first on a loaded machine reads otherwise.
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 1, failures: 2, patient: true));

        await Assert.ThrowsAsync<ManifestFailureException>(() => fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/none:v1" }, default));
        var opened = await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/none:v1" }, default));

        Assert.StartsWith($"oci://{host}/breaker/none:v1: registry {host} refused the connection: 2 attempts in a row since ", opened.Message, StringComparison.Ordinal);
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
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 0, failures: 1, patient: true));

        for (var i = 0; i < 3; i++)
        {
            var notFound = await Assert.ThrowsAsync<ManifestFailureException>(() => fetcher.FetchAsync(new ModuleRequest { Url = absent }, default));
            Assert.Contains("was not found (404", notFound.Message, StringComparison.Ordinal);
        }

        front.Pause();
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

    [Fact]
    public async Task A_host_that_comes_back_with_a_refused_certificate_has_answered_its_breaker_closes_and_fetches_say_certificate()
    {
        using var certificate = SelfSignedCertificate.Create();
        await using var server = await LoopbackServer.StartAsync(context => context.Response.WriteAsync("not reached"), certificate);
        await using var front = new TcpCutter(server.BaseUri);
        var host = front.Url.Authority;
        var request = new ModuleRequest { Url = $"https://{host}/plugin.wasm" };
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 0, failures: 1, patient: true), _log);
        front.Pause();
        await Assert.ThrowsAsync<DownloadFailureException>(() => fetcher.FetchAsync(request, default));
        await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(request, default));

        // Back, with a certificate the operator does not trust: the probe gets through the handshake to the verdict.
        front.Resume();
        _clock.Advance(Cooldown);
        var probe = await Assert.ThrowsAsync<CertificateRejectedException>(() => fetcher.FetchAsync(request, default));
        var next = await Assert.ThrowsAsync<CertificateRejectedException>(() => fetcher.FetchAsync(request, default));

        Assert.Equal(host, probe.Host);
        Assert.Equal(host, next.Host);
        Assert.Contains($"wasmoperator_registry_circuit_open{{registry=\"{host}\"}} 0", await MetricsTextAsync(), StringComparison.Ordinal);
        Assert.Single(_log.Lines, l => l.StartsWith($"Registry {host} answers again", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_blob_storage_that_refuses_connections_is_named_as_the_failing_host_not_the_registry()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("breaker/stored", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        var host = proxy.HostPort;
        var storage = $"127.0.0.1:{FreePort.Next()}";
        proxy.RedirectBlobsToHost = storage;
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 1, failures: 2, storage: storage, patient: true));

        await Assert.ThrowsAsync<DownloadFailureException>(() => fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/stored:v1" }, default));
        var opened = await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/breaker/stored:v1" }, default));

        Assert.Equal(storage, opened.FailedHost);
        Assert.StartsWith($"oci://{host}/breaker/stored:v1: registry {host} sends its fetches on to {storage} (a redirect or token service), which refused the connection: 2 attempts in a row since ", opened.Message, StringComparison.Ordinal);
        Assert.EndsWith($"check that {storage} is up and answers", opened.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failing_blob_storage_opens_only_its_own_breaker_and_fetches_that_need_only_the_registry_go_ahead()
    {
        var kept = TestModules.Create(65);
        var offsite = TestModules.Create(66);
        await _push.PushCncfAsync("breaker/kept", "v1", kept);
        await _push.PushCncfAsync("breaker/offsite", "v1", offsite);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        var host = proxy.HostPort;
        var storage = $"127.0.0.1:{FreePort.Next()}";
        using var fetcher = new ModuleFetcher(Options(host, maxRetries: 1, failures: 2, storage: storage, patient: true));
        // Always: each fetch asks the registry for the manifest; its module is cached, so no blob is needed.
        var registryOnly = new ModuleRequest { Url = $"oci://{host}/breaker/kept:v1", PullPolicy = ModulePullPolicy.Always };
        await fetcher.FetchAsync(registryOnly, default);

        proxy.RedirectBlobsToHost = storage;
        var needsStorage = new ModuleRequest { Url = $"oci://{host}/breaker/offsite:v1" };
        await Assert.ThrowsAsync<DownloadFailureException>(() => fetcher.FetchAsync(needsStorage, default));
        var refused = await Assert.ThrowsAsync<RegistryUnavailableException>(() => fetcher.FetchAsync(needsStorage, default));
        var manifestsBefore = proxy.ManifestGets;
        var fetched = await fetcher.FetchAsync(registryOnly, default);

        Assert.Equal(TestModules.Digest(kept), fetched.ModuleDigest);
        Assert.True(proxy.ManifestGets > manifestsBefore, "the registry was asked for the manifest");
        Assert.Equal(storage, refused.FailedHost);
        Assert.StartsWith($"oci://{host}/breaker/offsite:v1: registry {host} sends its fetches on to {storage} (a redirect or token service), which refused the connection: ", refused.Message, StringComparison.Ordinal);
        var text = await MetricsTextAsync();
        Assert.Contains($"wasmoperator_registry_circuit_open{{registry=\"{storage}\"}} 1", text, StringComparison.Ordinal);
        Assert.Contains($"wasmoperator_registry_circuit_fast_failures_total{{registry=\"{storage}\"}} 1", text, StringComparison.Ordinal);
        Assert.DoesNotContain($"{{registry=\"{host}\"}}", text, StringComparison.Ordinal);
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
