using System.Text;
using Microsoft.AspNetCore.Http;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Tests.Fixtures;

namespace WasmOperator.Modules.Tests.Oci;

/// <summary>
/// A layer is read no further than the size its manifest declares. The declared size used to be checked against the
/// limit only: the read went on to the module limit (256 MiB by default), so a registry that sent more than it declared
/// was read whole, and the module accepted when the bytes hashed to the digest.
/// </summary>
public sealed class LayerSizeTests : IDisposable
{
    private readonly TempDirectory _cache = new();

    public void Dispose() => _cache.Dispose();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_registry_sending_more_than_the_manifest_declares_is_a_download_failure_without_retries(bool announceLength)
    {
        var module = TestModules.Create(payloadBytes: 64 * 1024);
        const int declared = 1024;
        var blobGets = 0;
        await using var server = await RegistryAsync(module, declared, response =>
        {
            Interlocked.Increment(ref blobGets);
            if (announceLength)
            {
                response.ContentLength = module.Length;
            }
        });
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, server.HostPort));
        var url = $"oci://{server.HostPort}/team/liar:v1";

        var error = await Record.ExceptionAsync(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));

        var failure = Assert.IsType<DownloadFailureException>(error);
        Assert.Contains(url, failure.Message, StringComparison.Ordinal);
        Assert.Contains($"more than the {declared} bytes the manifest declares", failure.Message, StringComparison.Ordinal);
        Assert.Equal(1, Volatile.Read(ref blobGets));
        Assert.Equal(0, fetcher.Cache.TotalBytes);
    }

    [Fact]
    public async Task A_declared_layer_size_over_the_limit_is_refused_before_the_blob_is_asked_for_and_names_the_setting()
    {
        var module = TestModules.Create();
        var blobGets = 0;
        await using var server = await RegistryAsync(module, 1L << 40, _ => Interlocked.Increment(ref blobGets));
        var defaults = FetcherFactory.Options(_cache.Path, server.HostPort);
        using var fetcher = new ModuleFetcher(new ModuleFetcherOptions
        {
            CacheDirectory = defaults.CacheDirectory,
            InsecureHosts = defaults.InsecureHosts,
            MetricsRegistry = defaults.MetricsRegistry,
            MaxModuleBytesSetting = "--the-limit",
        });
        var url = $"oci://{server.HostPort}/team/huge:v1";

        var error = await Assert.ThrowsAsync<ModuleTooLargeException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));

        Assert.Equal(1L << 40, error.Size);
        Assert.Equal(ModuleFetcherOptions.DefaultMaxModuleBytes, error.Limit);
        Assert.Contains(url, error.Message, StringComparison.Ordinal);
        Assert.Contains($"limit of {ModuleFetcherOptions.DefaultMaxModuleBytes} bytes (at least {1L << 40} bytes)", error.Message, StringComparison.Ordinal);
        Assert.Contains("raise --the-limit", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref blobGets));
    }

    [Theory]
    [InlineData(1, "bytes where the manifest declares")]
    [InlineData(-5, "has size -5, which is no byte count")]
    public async Task A_layer_whose_declared_size_is_not_its_own_is_refused_even_when_its_digest_matches(long sizeChange, string expected)
    {
        // Declared larger than the blob the digest names (the whole blob arrives and hashes right), or negative.
        var module = TestModules.Create(payloadBytes: 64 * 1024);
        var declared = sizeChange > 0 ? module.Length + sizeChange : sizeChange;
        await using var server = await RegistryAsync(module, declared);
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, server.HostPort));
        var url = $"oci://{server.HostPort}/team/sizes:v1";

        var error = await Record.ExceptionAsync(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));

        Assert.NotNull(error);
        Assert.Contains(url, error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Equal(0, fetcher.Cache.TotalBytes);
    }

    /// <summary>A registry serving <c>v1</c>: a manifest whose one layer is <paramref name="module"/>, declared <paramref name="layerSize"/> bytes.</summary>
    private static Task<LoopbackServer> RegistryAsync(byte[] module, long layerSize, Action<HttpResponse>? onBlob = null)
    {
        var digest = TestModules.Digest(module);
        return LoopbackServer.StartAsync(async context =>
        {
            var path = context.Request.Path.Value!;
            if (path.EndsWith("/manifests/v1", StringComparison.Ordinal))
            {
                context.Response.ContentType = "application/vnd.oci.image.manifest.v1+json";
                await context.Response.Body.WriteAsync(Manifest(digest, layerSize));
                return;
            }

            if (path.EndsWith("/blobs/" + digest, StringComparison.Ordinal))
            {
                onBlob?.Invoke(context.Response);
                await context.Response.Body.WriteAsync(module);
                return;
            }

            context.Response.StatusCode = path == "/v2/" ? 200 : 404;
        });
    }

    private static byte[] Manifest(string digest, long layerSize) => Encoding.UTF8.GetBytes(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," +
        "\"config\":{\"mediaType\":\"application/vnd.wasm.config.v0+json\",\"digest\":\"" + digest + "\",\"size\":1}," +
        "\"layers\":[{\"mediaType\":\"application/wasm\",\"digest\":\"" + digest + "\",\"size\":" + layerSize + "}]}");
}
