using Microsoft.AspNetCore.Http;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Tests.Fixtures;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Modules.Tests.Oci;

public sealed class RegistryFaultTests(RegistryFixture fixture) : IClassFixture<RegistryFixture>, IDisposable
{
    private readonly TempDirectory _cache = new();
    private readonly RegistryPusher _push = new(fixture.Registry.BaseUri);

    public void Dispose()
    {
        _push.Dispose();
        _cache.Dispose();
    }

    private ModuleFetcherOptions Options(string host, int maxRetries = 4, TimeSpan? headersTimeout = null, TimeSpan? bodyIdleTimeout = null)
    {
        var defaults = FetcherFactory.Options(_cache.Path, host);
        return new ModuleFetcherOptions
        {
            CacheDirectory = defaults.CacheDirectory,
            InsecureHosts = defaults.InsecureHosts,
            MetricsRegistry = defaults.MetricsRegistry,
            RetryBaseDelay = defaults.RetryBaseDelay,
            RetryMaxDelay = defaults.RetryMaxDelay,
            MaxRetries = maxRetries,
            ResponseHeadersTimeout = headersTimeout ?? defaults.ResponseHeadersTimeout,
            BodyIdleTimeout = bodyIdleTimeout ?? defaults.BodyIdleTimeout,
        };
    }

    [Fact]
    public async Task A_redirect_to_https_on_a_storage_that_serves_plain_http_names_the_storage_not_the_registry()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("faults/plainstorage", "v1", module);
        await using var storage = await LoopbackServer.StartAsync(context => context.Response.WriteAsync("plain"));
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.RedirectBlobsToHost = storage.HostPort;
        proxy.RedirectBlobsToScheme = "https";
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort, maxRetries: 0));

        var error = await Assert.ThrowsAsync<DownloadFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/plainstorage:v1" }, default));

        Assert.Contains($"no TLS handshake with {storage.HostPort}, where registry {proxy.HostPort} sent the request on (a redirect or token service) (", error.Message, StringComparison.Ordinal);
        Assert.Contains($"with {storage.HostPort} added to the operator's --insecure-registries", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain($"add {proxy.HostPort} to", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_blob_cut_off_mid_transfer_is_downloaded_again()
    {
        var module = TestModules.Create(payloadBytes: 64 * 1024);
        await _push.PushCncfAsync("faults/truncated", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.FaultBlobs(FaultProxy.BlobFault.Truncate, 1);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort));

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/truncated:v1" }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        Assert.Equal(module, await File.ReadAllBytesAsync(fetched.Path));
        Assert.Equal(2, proxy.BlobGets);
    }

    [Fact]
    public async Task A_blob_corrupted_on_every_transfer_is_a_download_failure_and_nothing_is_cached()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("faults/corrupt", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.FaultBlobs(FaultProxy.BlobFault.Corrupt, int.MaxValue);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort, maxRetries: 2));

        var error = await Assert.ThrowsAsync<DownloadFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/corrupt:v1" }, default));

        Assert.Contains(TestModules.Digest(module), error.Message, StringComparison.Ordinal);
        Assert.Equal(3, proxy.BlobGets);
        Assert.Equal(0, fetcher.Cache.TotalBytes);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_cache.Path, "modules", "sha256")));
    }

    [Fact]
    public async Task Server_errors_are_retried_until_the_registry_answers()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("faults/flaky", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.FailNext(3);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort));

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/flaky:v1" }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
    }

    [Fact]
    public async Task A_registry_that_keeps_answering_500_fails_after_the_configured_retries()
    {
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.FailNext(int.MaxValue);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort, maxRetries: 2));

        var error = await Assert.ThrowsAsync<ManifestFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/down:v1" }, default));

        Assert.Contains("500", error.Message, StringComparison.Ordinal);
        Assert.Contains("3 attempts", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, proxy.Requests);
    }

    [Fact]
    public async Task A_404_is_not_retried()
    {
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort));

        await Assert.ThrowsAsync<ManifestFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/absent:v1" }, default));

        Assert.Equal(1, proxy.ManifestGets);
    }

    [Fact]
    public async Task A_registry_slower_than_the_response_headers_timeout_is_a_timeout_failure()
    {
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.Delay = TimeSpan.FromSeconds(30);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort, maxRetries: 1, headersTimeout: TimeSpan.FromMilliseconds(300)));

        var error = await Assert.ThrowsAsync<ManifestFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/slow:v1" }, default));

        Assert.Contains("did not answer within 300 ms", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, proxy.Requests);
    }

    [Fact]
    public async Task A_registry_that_answers_the_ping_but_never_a_manifest_fails_within_the_response_headers_timeout_naming_the_url()
    {
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.StallManifests = true;
        var defaults = Options(proxy.HostPort, maxRetries: 1);
        // The whole fetch may last a minute: only the time to the response head can end it first.
        using var fetcher = new ModuleFetcher(new ModuleFetcherOptions
        {
            CacheDirectory = defaults.CacheDirectory,
            InsecureHosts = defaults.InsecureHosts,
            MetricsRegistry = defaults.MetricsRegistry,
            RetryBaseDelay = defaults.RetryBaseDelay,
            RetryMaxDelay = defaults.RetryMaxDelay,
            MaxRetries = 1,
            ResponseHeadersTimeout = TimeSpan.FromMilliseconds(300),
            FetchTimeout = TimeSpan.FromMinutes(1),
        });

        var error = await Assert.ThrowsAsync<ManifestFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/silent:v1" }, default));

        Assert.Contains($"http://{proxy.HostPort}/v2/faults/silent/manifests/v1 did not answer within 300 ms", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, proxy.ManifestGets);
    }

    [Fact]
    public async Task A_blob_that_stops_mid_body_is_given_up_after_the_idle_timeout_and_downloaded_again()
    {
        var module = TestModules.Create(payloadBytes: 64 * 1024);
        await _push.PushCncfAsync("faults/stalled", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.FaultBlobs(FaultProxy.BlobFault.Stall, 1);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort, bodyIdleTimeout: TimeSpan.FromMilliseconds(300)));

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/stalled:v1" }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        Assert.Equal(2, proxy.BlobGets);
    }

    [Fact]
    public async Task A_public_module_is_served_from_the_cache_to_every_anonymous_request_without_asking_the_registry_again()
    {
        await _push.PushCncfAsync("public/plugin", "v1", TestModules.Create());
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort));
        var url = $"oci://{proxy.HostPort}/public/plugin:v1";
        await fetcher.FetchAsync(new ModuleRequest { Url = url }, default);
        var requests = proxy.Requests;

        var again = await fetcher.FetchAsync(new ModuleRequest { Url = url }, default);
        // A secret with no entry for this registry pulls anonymously too.
        var otherHostSecret = await fetcher.FetchAsync(new ModuleRequest
        {
            Url = url,
            PullSecret = """{"auths":{"other.example:5000":{"auth":"dTpw"}}}"""u8.ToArray(),
        }, default);

        Assert.True(again.FromCache);
        Assert.True(otherHostSecret.FromCache);
        Assert.Equal(requests, proxy.Requests);
    }

    [Fact]
    public async Task A_public_module_cached_anonymously_is_served_to_a_pull_secret_after_one_manifest_request()
    {
        await _push.PushCncfAsync("public/secret", "v1", TestModules.Create());
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort));
        var url = $"oci://{proxy.HostPort}/public/secret:v1";
        await fetcher.FetchAsync(new ModuleRequest { Url = url }, default);
        var (manifests, blobs) = (proxy.ManifestGets, proxy.BlobGets);
        var withSecret = new ModuleRequest
        {
            Url = url,
            PullSecret = System.Text.Encoding.UTF8.GetBytes($$"""{"auths":{"{{proxy.HostPort}}":{"auth":"dTpw"} } }"""),
        };

        var first = await fetcher.FetchAsync(withSecret, default);
        var second = await fetcher.FetchAsync(withSecret, default);

        Assert.True(first.FromCache);
        Assert.True(second.FromCache);
        Assert.Equal(manifests + 1, proxy.ManifestGets);
        Assert.Equal(blobs, proxy.BlobGets);
    }

    [Fact]
    public async Task Twenty_concurrent_fetches_of_one_module_share_one_download()
    {
        var module = TestModules.Create(payloadBytes: 256 * 1024);
        await _push.PushCncfAsync("faults/popular", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort));
        var request = new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/popular:v1" };

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => fetcher.FetchAsync(request, default))));

        Assert.All(results, r => Assert.Equal(TestModules.Digest(module), r.ModuleDigest));
        Assert.Equal(1, proxy.BlobGets);
        Assert.Equal(1, proxy.ManifestGets);
    }

    [Fact]
    public async Task A_caller_that_gives_up_does_not_cancel_the_shared_download_of_the_others()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("faults/shared", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.Delay = TimeSpan.FromMilliseconds(200);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort));
        var request = new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/shared:v1" };
        using var impatient = new CancellationTokenSource();

        var cancelled = fetcher.FetchAsync(request, impatient.Token);
        var patient = fetcher.FetchAsync(request, default);
        await impatient.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Equal(TestModules.Digest(module), (await patient).ModuleDigest);
    }

    [Fact]
    public async Task A_registry_that_is_down_and_comes_back_is_reached_by_retrying()
    {
        await using var registry = await RegistryProcess.StartAsync();
        using (var push = new RegistryPusher(registry.BaseUri))
        {
            await push.PushCncfAsync("faults/restart", "v1", TestModules.Create());
        }

        // The fetcher reaches the registry through a forwarder that holds the port through the outage (a
        // restarted registry could find its port taken by another test); paused, it resets every connection.
        await using var front = new TcpCutter(registry.BaseUri);
        var host = front.Url.Authority;
        front.Pause();
        var defaults = FetcherFactory.Options(_cache.Path, host);
        using var fetcher = new ModuleFetcher(new ModuleFetcherOptions
        {
            CacheDirectory = defaults.CacheDirectory,
            InsecureHosts = defaults.InsecureHosts,
            MetricsRegistry = defaults.MetricsRegistry,
            MaxRetries = 20,
            RetryBaseDelay = TimeSpan.FromMilliseconds(100),
            RetryMaxDelay = TimeSpan.FromSeconds(1),
        });

        // Counted, not timed: the fetch must have been refused and retried a few times, and still be waiting. (This
        // test once failed CI: a reset that came before HttpClient's RemoteEndPoint lookup surfaced as a bare
        // SocketException, which the retrier did not take for a transport error; RetrierTests pins that down.)
        var fetch = fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{host}/faults/restart:v1" }, default);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (front.Refused < 3 && !fetch.IsCompleted && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.False(fetch.IsCompleted, $"the fetch ended ({fetch.Status}) after {front.Refused} refused connection(s): {fetch.Exception}");
        Assert.True(front.Refused >= 3, $"only {front.Refused} connection(s) refused in 30 s of outage");
        front.Resume();

        var fetched = await fetch;
        Assert.Equal($"{host}/faults/restart", fetched.ResolvedRef.Split('@')[0]);
    }

    [Fact]
    public async Task A_manifest_whose_bytes_do_not_match_Docker_Content_Digest_is_refused()
    {
        await _push.PushCncfAsync("faults/tampered", "v1", TestModules.Create());
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.TamperManifestDigest = true;
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort, maxRetries: 1));

        var error = await Assert.ThrowsAsync<ManifestFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/tampered:v1" }, default));

        Assert.Contains("Docker-Content-Digest", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, fetcher.Cache.TotalBytes);
    }

    [Fact]
    public async Task Too_many_requests_is_retried_after_the_advertised_delay()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("faults/throttled", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.FailNext(2, status: 429);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort));

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/throttled:v1" }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
    }

    [Fact]
    public async Task Other_client_errors_are_not_retried()
    {
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.FailNext(1, status: 400);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort));

        var error = await Assert.ThrowsAsync<ManifestFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/bad:v1" }, default));

        Assert.Contains("400", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, proxy.Requests);
    }

    [Fact]
    public async Task A_fetch_that_outlasts_the_overall_timeout_fails_even_while_each_request_is_within_its_own()
    {
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.Delay = TimeSpan.FromSeconds(30);
        var defaults = Options(proxy.HostPort);
        using var fetcher = new ModuleFetcher(new ModuleFetcherOptions
        {
            CacheDirectory = defaults.CacheDirectory,
            InsecureHosts = defaults.InsecureHosts,
            MetricsRegistry = defaults.MetricsRegistry,
            ResponseHeadersTimeout = TimeSpan.FromSeconds(20),
            FetchTimeout = TimeSpan.FromMilliseconds(300),
        });

        var error = await Assert.ThrowsAsync<DownloadFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/forever:v1" }, default));

        Assert.Contains("did not finish within 300 ms", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_tags_of_one_manifest_fetched_together_share_one_download()
    {
        var module = TestModules.Create(payloadBytes: 128 * 1024);
        var digest = await _push.PushCncfAsync("faults/twotags", "stable", module);
        await _push.PushCncfAsync("faults/twotags", "v1.2.3", module);
        await using var proxy = await FaultProxy.StartAsync(fixture.Registry.BaseUri);
        proxy.Delay = TimeSpan.FromMilliseconds(100);
        using var fetcher = new ModuleFetcher(Options(proxy.HostPort));

        var results = await Task.WhenAll(
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/twotags:stable" }, default),
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{proxy.HostPort}/faults/twotags:v1.2.3" }, default));

        Assert.All(results, r => Assert.Equal(digest, r.ManifestDigest));
        Assert.Equal($"oci://{proxy.HostPort}/faults/twotags:v1.2.3", results[1].Url);
        Assert.Equal(1, proxy.BlobGets);
    }
}
