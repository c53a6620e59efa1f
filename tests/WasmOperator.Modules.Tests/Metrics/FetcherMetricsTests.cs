using System.Text;
using Prometheus;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Tests.Fixtures;

namespace WasmOperator.Modules.Tests.Metrics;

public sealed class FetcherMetricsTests : IDisposable
{
    private readonly TempDirectory _cache = new();
    private readonly TempDirectory _modules = new();

    public void Dispose()
    {
        _cache.Dispose();
        _modules.Dispose();
    }

    [Fact]
    public async Task Fetches_are_counted_by_result_with_cache_hits_misses_and_bytes()
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        var module = TestModules.Create();
        var path = Path.Combine(_modules.Path, "plugin.wasm");
        await File.WriteAllBytesAsync(path, module);
        var url = new Uri(path).AbsoluteUri;
        using var fetcher = new ModuleFetcher(new ModuleFetcherOptions
        {
            CacheDirectory = _cache.Path,
            AllowedFileRoots = [_modules.Path],
            MetricsRegistry = registry,
        });

        await fetcher.FetchAsync(new ModuleRequest { Url = url }, default);
        await fetcher.FetchAsync(new ModuleRequest { Url = url }, default);
        await Assert.ThrowsAsync<ChecksumMismatchException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = url, Sha256 = new string('e', 64), PullPolicy = ModulePullPolicy.Always }, default));

        using var stream = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(stream);
        var text = Encoding.UTF8.GetString(stream.ToArray());
        Assert.Contains("wasmoperator_module_fetches_total{result=\"success\"} 2", text, StringComparison.Ordinal);
        Assert.Contains("wasmoperator_module_fetches_total{result=\"checksum_mismatch\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("wasmoperator_module_cache_hits_total 1", text, StringComparison.Ordinal);
        Assert.Contains("wasmoperator_module_cache_misses_total 1", text, StringComparison.Ordinal);
        Assert.Contains($"wasmoperator_module_downloaded_bytes_total {module.Length}", text, StringComparison.Ordinal);
        Assert.Contains("wasmoperator_module_fetch_duration_seconds_count{result=\"success\"} 2", text, StringComparison.Ordinal);
    }
}
