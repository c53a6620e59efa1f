using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Tests.Fixtures;

namespace WasmOperator.Modules.Tests.Http;

public sealed class HttpSourceTests : IDisposable
{
    private readonly TempDirectory _cache = new();
    private readonly byte[] _module = TestModules.Create();

    public void Dispose() => _cache.Dispose();

    private Task<LoopbackServer> ServeAsync(X509Certificate2? certificate = null, byte[]? body = null) =>
        LoopbackServer.StartAsync(async context =>
        {
            if (context.Request.Path == "/plugin.wasm")
            {
                await context.Response.Body.WriteAsync(body ?? _module);
            }
            else
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
            }
        }, certificate);

    private ModuleFetcherOptions Options(X509Certificate2Collection? trusted = null, params string[] insecure) => new()
    {
        CacheDirectory = _cache.Path,
        InsecureHosts = insecure,
        TrustedCertificates = trusted,
        MetricsRegistry = Prometheus.Metrics.NewCustomRegistry(),
        MaxRetries = 0,
    };

    [Fact]
    public async Task An_https_module_from_a_server_whose_certificate_is_trusted_through_the_options_is_fetched_and_hashed()
    {
        using var certificate = SelfSignedCertificate.Create();
        await using var server = await ServeAsync(certificate);
        using var fetcher = new ModuleFetcher(Options([X509CertificateLoader.LoadCertificate(certificate.RawData)]));
        var url = $"https://{server.HostPort}/plugin.wasm";

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = url, Sha256 = TestModules.Digest(_module)[7..] }, default);

        Assert.Equal(TestModules.Digest(_module), fetched.ModuleDigest);
        Assert.Equal(ModuleFormat.RawWasm, fetched.Format);
        Assert.Equal(url, fetched.ResolvedRef);
        Assert.Null(fetched.ManifestDigest);
        Assert.Equal(_module, await File.ReadAllBytesAsync(fetched.Path));
    }

    [Fact]
    public async Task An_https_server_with_an_untrusted_certificate_is_a_certificate_error_tried_once_and_not_counted_against_the_host()
    {
        using var certificate = SelfSignedCertificate.Create();
        await using var server = await ServeAsync(certificate);
        var options = Options();
        // One failure in a row would open the host's breaker: a certificate counted as one would.
        using var fetcher = new ModuleFetcher(new ModuleFetcherOptions
        {
            CacheDirectory = options.CacheDirectory,
            MetricsRegistry = options.MetricsRegistry,
            MaxRetries = 3,
            CircuitBreakerFailures = 1,
        });
        var url = $"https://{server.HostPort}/plugin.wasm";

        var error = await Assert.ThrowsAsync<CertificateRejectedException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));
        var again = await Assert.ThrowsAsync<CertificateRejectedException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));

        Assert.Equal(server.HostPort, error.Host);
        Assert.Equal("certificate_rejected", error.Result);
        Assert.StartsWith($"{url}: the TLS certificate of {server.HostPort} is not trusted (", error.Message, StringComparison.Ordinal);
        Assert.Contains("UntrustedRoot", error.Message, StringComparison.Ordinal);
        Assert.Contains("the operator trusts the CAs of its container's system trust store", error.Message, StringComparison.Ordinal);
        Assert.Contains("SSL_CERT_FILE", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("(after 1 attempt)", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("see inner exception", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("download failed", error.Message, StringComparison.Ordinal);
        Assert.Equal(error.Message, again.Message);
    }

    [Fact]
    public async Task An_https_server_with_an_expired_untrusted_certificate_is_a_certificate_error_that_says_both()
    {
        using var certificate = SelfSignedCertificate.Create(expired: true);
        await using var server = await ServeAsync(certificate);
        using var fetcher = new ModuleFetcher(Options());

        var error = await Assert.ThrowsAsync<CertificateRejectedException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"https://{server.HostPort}/plugin.wasm" }, default));

        Assert.Contains($"the TLS certificate of {server.HostPort} is not trusted (", error.Message, StringComparison.Ordinal);
        Assert.Contains("NotTimeValid", error.Message, StringComparison.Ordinal);
        Assert.Contains(") and has expired or is not valid yet; ", error.Message, StringComparison.Ordinal);
        Assert.Contains("a current certificate from a CA the operator trusts", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_https_server_whose_untrusted_certificate_names_another_host_is_a_certificate_error_that_says_both()
    {
        using var certificate = SelfSignedCertificate.Create(otherName: "other.example");
        await using var server = await ServeAsync(certificate);
        using var fetcher = new ModuleFetcher(Options());

        var error = await Assert.ThrowsAsync<CertificateRejectedException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"https://{server.HostPort}/plugin.wasm" }, default));

        Assert.StartsWith($"https://{server.HostPort}/plugin.wasm: the TLS certificate of {server.HostPort} does not name 127.0.0.1 and is not trusted either (", error.Message, StringComparison.Ordinal);
        Assert.Contains("give the server a current certificate for 127.0.0.1 from a CA the operator trusts, served with its intermediates, or use a host name the certificate names", error.Message, StringComparison.Ordinal);
        Assert.Contains("SSL_CERT_FILE", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_https_url_to_a_plain_http_server_says_no_TLS_handshake_happened_and_how_to_allow_plain_http()
    {
        await using var server = await ServeAsync();
        using var fetcher = new ModuleFetcher(Options());

        var error = await Assert.ThrowsAsync<DownloadFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"https://{server.HostPort}/plugin.wasm" }, default));

        Assert.Contains($"no TLS handshake with {server.HostPort} (", error.Message, StringComparison.Ordinal);
        Assert.Contains($"if it serves plain http, use an http:// url and add {server.HostPort} to the operator's --insecure-registries (env WASMOP_INSECURE_REGISTRIES)", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("see inner exception", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_module_whose_bytes_differ_from_sha256_is_a_checksum_mismatch_carrying_both_digests()
    {
        await using var server = await ServeAsync();
        using var fetcher = new ModuleFetcher(Options(null, server.HostPort));
        var expected = new string('d', 64);

        var error = await Assert.ThrowsAsync<ChecksumMismatchException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"http://{server.HostPort}/plugin.wasm", Sha256 = expected }, default));

        Assert.Equal("sha256:" + expected, error.Expected);
        Assert.Equal(TestModules.Digest(_module), error.Actual);
        Assert.Equal(0, fetcher.Cache.TotalBytes);
    }

    [Fact]
    public async Task Plain_http_is_only_used_for_hosts_on_the_insecure_allowlist()
    {
        await using var server = await ServeAsync();
        using var allowed = new ModuleFetcher(Options(null, "127.0.0.1"));
        using var refused = new ModuleFetcher(Options());
        var url = $"http://{server.HostPort}/plugin.wasm";

        var fetched = await allowed.FetchAsync(new ModuleRequest { Url = url }, default);
        var error = await Assert.ThrowsAsync<InvalidModuleUrlException>(() => refused.FetchAsync(new ModuleRequest { Url = url }, default));

        Assert.Equal(TestModules.Digest(_module), fetched.ModuleDigest);
        Assert.Contains("insecure allowlist", error.Message, StringComparison.Ordinal);
        Assert.Contains($"add 127.0.0.1 (or {server.HostPort}) to the operator's --insecure-registries (env WASMOP_INSECURE_REGISTRIES)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Content_that_is_not_WebAssembly_is_rejected()
    {
        await using var server = await ServeAsync(body: "<html>login</html>"u8.ToArray());
        using var fetcher = new ModuleFetcher(Options(null, server.HostPort));

        var error = await Assert.ThrowsAsync<UnsupportedFormatException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"http://{server.HostPort}/plugin.wasm" }, default));

        Assert.EndsWith("the content is not a WebAssembly binary (no \\0asm magic); serve the compiled Wasm module itself (bytes that start with \\0asm) at this url, or use an oci:// url of a Wasm artifact", error.Message, StringComparison.Ordinal);
        Assert.Empty(error.MediaTypesSeen);
    }

    [Fact]
    public async Task A_missing_file_on_the_server_is_a_download_failure()
    {
        await using var server = await ServeAsync();
        using var fetcher = new ModuleFetcher(Options(null, server.HostPort));

        var error = await Assert.ThrowsAsync<DownloadFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"http://{server.HostPort}/other.wasm" }, default));

        Assert.Contains("404", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_without_length_is_cut_off_at_the_maximum_module_size()
    {
        var large = TestModules.Create(payloadBytes: 64 * 1024);
        await using var server = await ServeAsync(body: large);
        using var fetcher = new ModuleFetcher(new ModuleFetcherOptions
        {
            CacheDirectory = _cache.Path,
            InsecureHosts = [server.HostPort],
            MaxModuleBytes = 16 * 1024,
            MaxModuleBytesSetting = "--the-limit",
            MetricsRegistry = Prometheus.Metrics.NewCustomRegistry(),
        });

        var error = await Assert.ThrowsAsync<ModuleTooLargeException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"http://{server.HostPort}/plugin.wasm" }, default));

        Assert.Equal(16 * 1024, error.Limit);
        Assert.Contains($"http://{server.HostPort}/plugin.wasm", error.Message, StringComparison.Ordinal);
        Assert.Contains("larger than the limit of 16384 bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("raise --the-limit", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, fetcher.Cache.TotalBytes);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_cache.Path, "tmp")));
    }
}
