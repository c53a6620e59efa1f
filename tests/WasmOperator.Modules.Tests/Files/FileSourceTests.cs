using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Tests.Fixtures;

namespace WasmOperator.Modules.Tests.Files;

public sealed class FileSourceTests : IDisposable
{
    private readonly TempDirectory _cache = new();
    private readonly TempDirectory _modules = new();

    public void Dispose()
    {
        _cache.Dispose();
        _modules.Dispose();
    }

    private ModuleFetcher Fetcher(params string[] roots) => new(new ModuleFetcherOptions
    {
        CacheDirectory = _cache.Path,
        AllowedFileRoots = roots,
        MetricsRegistry = Prometheus.Metrics.NewCustomRegistry(),
    });

    [Fact]
    public async Task A_file_url_inside_an_allowed_root_is_fetched_and_Always_rereads_a_changed_file()
    {
        var path = Path.Combine(_modules.Path, "plugin.wasm");
        var first = TestModules.Create();
        var second = TestModules.Create();
        await File.WriteAllBytesAsync(path, first);
        using var fetcher = Fetcher(_modules.Path);
        var url = new Uri(path).AbsoluteUri;

        var initial = await fetcher.FetchAsync(new ModuleRequest { Url = url }, default);
        await File.WriteAllBytesAsync(path, second);
        var cached = await fetcher.FetchAsync(new ModuleRequest { Url = url }, default);
        var reread = await fetcher.FetchAsync(new ModuleRequest { Url = url, PullPolicy = ModulePullPolicy.Always }, default);

        Assert.Equal(TestModules.Digest(first), initial.ModuleDigest);
        Assert.Equal(TestModules.Digest(first), cached.ModuleDigest);
        Assert.Equal(TestModules.Digest(second), reread.ModuleDigest);
    }

    [Fact]
    public async Task A_file_url_outside_the_allowed_roots_is_refused()
    {
        using var other = new TempDirectory();
        var path = Path.Combine(other.Path, "plugin.wasm");
        await File.WriteAllBytesAsync(path, TestModules.Create());
        using var fetcher = Fetcher(_modules.Path);

        var error = await Assert.ThrowsAsync<InvalidModuleUrlException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = new Uri(path).AbsoluteUri }, default));

        Assert.Contains("outside the allowed directories", error.Message, StringComparison.Ordinal);
        Assert.Contains("--allowed-file-roots", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_symbolic_link_inside_an_allowed_root_to_a_file_outside_it_is_refused_naming_its_target()
    {
        var fileLink = Path.Combine(_modules.Path, "passwd.wasm");
        File.CreateSymbolicLink(fileLink, "/etc/passwd");
        var directoryLink = Path.Combine(_modules.Path, "etc");
        Directory.CreateSymbolicLink(directoryLink, "/etc");
        using var fetcher = Fetcher(_modules.Path);

        var toFile = await Assert.ThrowsAsync<InvalidModuleUrlException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = new Uri(fileLink).AbsoluteUri }, default));
        var throughDirectory = await Assert.ThrowsAsync<InvalidModuleUrlException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = new Uri(Path.Combine(directoryLink, "passwd")).AbsoluteUri }, default));

        Assert.Contains($"{fileLink} is a symbolic link to /etc/passwd, which is outside the allowed directories", toFile.Message, StringComparison.Ordinal);
        Assert.Contains("--allowed-file-roots", toFile.Message, StringComparison.Ordinal);
        Assert.StartsWith(new Uri(fileLink).AbsoluteUri, toFile.Message, StringComparison.Ordinal);
        Assert.Contains("is a symbolic link to /etc/passwd", throughDirectory.Message, StringComparison.Ordinal);
        Assert.Equal(0, fetcher.Cache.TotalBytes);
    }

    [Fact]
    public async Task Symbolic_links_that_stay_inside_an_allowed_root_are_followed_as_a_mounted_ConfigMap_has_them()
    {
        var module = TestModules.Create();
        var data = Directory.CreateDirectory(Path.Combine(_modules.Path, "..2026_12_07"));
        await File.WriteAllBytesAsync(Path.Combine(data.FullName, "plugin.wasm"), module);
        Directory.CreateSymbolicLink(Path.Combine(_modules.Path, "..data"), "..2026_12_07");
        var link = Path.Combine(_modules.Path, "plugin.wasm");
        File.CreateSymbolicLink(link, "..data/plugin.wasm");
        using var linkedRoot = new TempDirectory();
        var rootLink = Path.Combine(linkedRoot.Path, "modules");
        Directory.CreateSymbolicLink(rootLink, _modules.Path);
        using var fetcher = Fetcher(_modules.Path);
        using var throughLinkedRoot = Fetcher(rootLink);

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = new Uri(link).AbsoluteUri }, default);
        var viaRoot = await throughLinkedRoot.FetchAsync(new ModuleRequest { Url = new Uri(Path.Combine(rootLink, "plugin.wasm")).AbsoluteUri }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        Assert.Equal(TestModules.Digest(module), viaRoot.ModuleDigest);
    }

    [Fact]
    public async Task A_file_that_is_not_WebAssembly_is_refused_with_advice_for_a_file_not_for_an_OCI_artifact()
    {
        var path = Path.Combine(_modules.Path, "page.wasm");
        await File.WriteAllTextAsync(path, "<html>login</html>");
        using var fetcher = Fetcher(_modules.Path);

        var error = await Assert.ThrowsAsync<UnsupportedFormatException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = new Uri(path).AbsoluteUri }, default));

        Assert.EndsWith("the content is not a WebAssembly binary (no \\0asm magic); point the url at a compiled Wasm module (a file that starts with \\0asm, such as a build's plugin.wasm)", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("artifact", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sha256_in_the_cache_is_no_way_around_the_url_that_names_it()
    {
        // Another plugin's module, in the cache now; a second url names its sha256: outside the roots, and missing.
        var module = TestModules.Create();
        var path = Path.Combine(_modules.Path, "plugin.wasm");
        await File.WriteAllBytesAsync(path, module);
        using var fetcher = Fetcher(_modules.Path);
        var digest = TestModules.Digest(module);
        await fetcher.FetchAsync(new ModuleRequest { Url = new Uri(path).AbsoluteUri }, default);
        using var other = new TempDirectory();

        var outside = await Assert.ThrowsAsync<InvalidModuleUrlException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = new Uri(Path.Combine(other.Path, "x.wasm")).AbsoluteUri, Sha256 = digest }, default));
        var missing = await Assert.ThrowsAnyAsync<Exception>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = new Uri(Path.Combine(_modules.Path, "missing.wasm")).AbsoluteUri, Sha256 = digest }, default));
        var again = await fetcher.FetchAsync(new ModuleRequest { Url = new Uri(path).AbsoluteUri, Sha256 = digest }, default);

        Assert.Contains("outside the allowed directories", outside.Message, StringComparison.Ordinal);
        Assert.Contains("missing.wasm", missing.Message, StringComparison.Ordinal);
        // The url that served it is served from the cache.
        Assert.True(again.FromCache);
        Assert.Equal(digest, again.ModuleDigest);
    }

    [Fact]
    public async Task The_file_system_root_as_allowed_root_allows_every_file_under_it()
    {
        var module = TestModules.Create();
        var path = Path.Combine(_modules.Path, "plugin.wasm");
        await File.WriteAllBytesAsync(path, module);
        using var fetcher = Fetcher(Path.GetPathRoot(path) ?? "/");

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = new Uri(path).AbsoluteUri }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
    }

    [Fact]
    public async Task A_disposed_fetcher_refuses_to_fetch()
    {
        var path = Path.Combine(_modules.Path, "plugin.wasm");
        await File.WriteAllBytesAsync(path, TestModules.Create());
        var fetcher = Fetcher(_modules.Path);
        fetcher.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = new Uri(path).AbsoluteUri }, default));
    }

    [Fact]
    public async Task File_urls_are_refused_when_no_root_is_configured_naming_the_flag_and_counted_as_invalid_url()
    {
        var path = Path.Combine(_modules.Path, "plugin.wasm");
        await File.WriteAllBytesAsync(path, TestModules.Create());
        var registry = Prometheus.Metrics.NewCustomRegistry();
        using var fetcher = new ModuleFetcher(new ModuleFetcherOptions { CacheDirectory = _cache.Path, MetricsRegistry = registry });

        var error = await Assert.ThrowsAsync<InvalidModuleUrlException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = new Uri(path).AbsoluteUri }, default));

        Assert.Contains("--allowed-file-roots (env WASMOP_ALLOWED_FILE_ROOTS)", error.Message, StringComparison.Ordinal);
        Assert.Equal("invalid_url", error.Result);
        using var metrics = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(metrics);
        Assert.Contains("wasmoperator_module_fetches_total{result=\"invalid_url\"} 1", System.Text.Encoding.UTF8.GetString(metrics.ToArray()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_scheme_is_refused_naming_the_supported_ones()
    {
        using var fetcher = Fetcher();

        var error = await Assert.ThrowsAsync<InvalidModuleUrlException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = "ftp://example.com/plugin.wasm" }, default));

        Assert.Contains("oci://, https://", error.Message, StringComparison.Ordinal);
    }
}
