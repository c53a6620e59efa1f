using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Tests.Fixtures;

namespace WasmOperator.Modules.Tests.Cache;

public sealed class ModuleCacheTests : IDisposable
{
    private readonly TempDirectory _cache = new();
    private readonly TempDirectory _modules = new();

    public void Dispose()
    {
        _cache.Dispose();
        _modules.Dispose();
    }

    private ModuleFetcher Fetcher(long maxModuleBytes = ModuleFetcherOptions.DefaultMaxModuleBytes, long? maxCacheBytes = null) => new(new ModuleFetcherOptions
    {
        CacheDirectory = _cache.Path,
        AllowedFileRoots = [_modules.Path],
        MaxModuleBytes = maxModuleBytes,
        MaxCacheBytes = maxCacheBytes ?? 1L << 30,
        MetricsRegistry = Prometheus.Metrics.NewCustomRegistry(),
    });

    private async Task<(string Url, byte[] Bytes)> WriteModuleAsync(string name, int payloadBytes = 64)
    {
        var bytes = TestModules.Create(payloadBytes);
        var path = Path.Combine(_modules.Path, name);
        await File.WriteAllBytesAsync(path, bytes);
        return (new Uri(path).AbsoluteUri, bytes);
    }

    [Fact]
    public async Task Garbage_collection_never_removes_a_pinned_module()
    {
        using var fetcher = Fetcher();
        var (pinnedUrl, _) = await WriteModuleAsync("a.wasm");
        var (otherUrl, _) = await WriteModuleAsync("b.wasm");
        var pinned = await fetcher.FetchAsync(new ModuleRequest { Url = pinnedUrl }, default);
        var other = await fetcher.FetchAsync(new ModuleRequest { Url = otherUrl }, default);
        fetcher.Cache.Pin(pinned.ModuleDigest);

        var removed = fetcher.Cache.CollectGarbage(0);

        Assert.Equal([other.ModuleDigest], removed);
        Assert.True(File.Exists(pinned.Path));
        Assert.False(File.Exists(other.Path));
        Assert.Equal(pinned.Size, fetcher.Cache.TotalBytes);
        Assert.Equal(pinned.Path, await fetcher.Cache.TryGetPathAsync(pinned.ModuleDigest, default));

        fetcher.Cache.Unpin(pinned.ModuleDigest);
        Assert.Equal([pinned.ModuleDigest], fetcher.Cache.CollectGarbage(0));
        Assert.False(File.Exists(pinned.Path));
    }

    [Fact]
    public async Task Pins_are_counted_so_a_module_stays_pinned_until_every_revision_released_it()
    {
        using var fetcher = Fetcher();
        var (url, _) = await WriteModuleAsync("shared.wasm");
        var module = await fetcher.FetchAsync(new ModuleRequest { Url = url }, default);

        fetcher.Cache.Pin(module.ModuleDigest);
        fetcher.Cache.Pin(module.ModuleDigest);
        fetcher.Cache.Unpin(module.ModuleDigest);

        Assert.True(fetcher.Cache.IsPinned(module.ModuleDigest));
        Assert.Empty(fetcher.Cache.CollectGarbage(0));
        fetcher.Cache.Unpin(module.ModuleDigest);
        Assert.False(fetcher.Cache.IsPinned(module.ModuleDigest));
    }

    [Fact]
    public async Task Above_the_size_cap_the_least_recently_used_unpinned_module_is_evicted()
    {
        // Each module is ~1 KiB; the cap holds three of them.
        using var fetcher = Fetcher(maxModuleBytes: 2048, maxCacheBytes: 3300);
        var a = await WriteModuleAsync("a.wasm", 1000);
        var b = await WriteModuleAsync("b.wasm", 1000);
        var c = await WriteModuleAsync("c.wasm", 1000);
        var d = await WriteModuleAsync("d.wasm", 1000);
        var fetchedA = await fetcher.FetchAsync(new ModuleRequest { Url = a.Url }, default);
        var fetchedB = await fetcher.FetchAsync(new ModuleRequest { Url = b.Url }, default);
        var fetchedC = await fetcher.FetchAsync(new ModuleRequest { Url = c.Url }, default);
        var reusedA = await fetcher.FetchAsync(new ModuleRequest { Url = a.Url }, default);

        var fetchedD = await fetcher.FetchAsync(new ModuleRequest { Url = d.Url }, default);

        Assert.True(reusedA.FromCache);
        Assert.Null(await fetcher.Cache.TryGetPathAsync(fetchedB.ModuleDigest, default));
        Assert.NotNull(await fetcher.Cache.TryGetPathAsync(fetchedA.ModuleDigest, default));
        Assert.NotNull(await fetcher.Cache.TryGetPathAsync(fetchedC.ModuleDigest, default));
        Assert.NotNull(await fetcher.Cache.TryGetPathAsync(fetchedD.ModuleDigest, default));
        Assert.True(fetcher.Cache.TotalBytes <= 3300);
    }

    [Fact]
    public async Task A_module_held_by_a_lease_survives_a_later_commit_over_the_cap_until_it_is_pinned_and_the_lease_released()
    {
        // Each module is ~1 KiB; the cap holds one of them.
        using var fetcher = Fetcher(maxModuleBytes: 1200, maxCacheBytes: 1500);
        var a = await WriteModuleAsync("a.wasm", 1000);
        var b = await WriteModuleAsync("b.wasm", 1000);
        var c = await WriteModuleAsync("c.wasm", 1000);
        var lease = fetcher.Cache.OpenLease();
        var held = await fetcher.FetchAsync(new ModuleRequest { Url = a.Url, Lease = lease }, default);

        // Another consumer's fetch commits and goes over the cap before the first pinned its module.
        var other = await fetcher.FetchAsync(new ModuleRequest { Url = b.Url }, default);
        var heldAfterOther = await fetcher.Cache.TryGetPathAsync(held.ModuleDigest, default);
        fetcher.Cache.Pin(held.ModuleDigest);
        lease.Dispose();
        await fetcher.FetchAsync(new ModuleRequest { Url = c.Url }, default);
        var pinnedAfterRelease = await fetcher.Cache.TryGetPathAsync(held.ModuleDigest, default);
        fetcher.Cache.Unpin(held.ModuleDigest);

        Assert.Equal(held.Path, heldAfterOther);
        Assert.Equal(held.Path, pinnedAfterRelease);
        Assert.Null(await fetcher.Cache.TryGetPathAsync(other.ModuleDigest, default));
        Assert.Contains(held.ModuleDigest, fetcher.Cache.CollectGarbage(0));
    }

    [Fact]
    public async Task Concurrent_fetches_over_a_small_cap_never_hand_out_a_module_file_that_is_gone()
    {
        // Each module is ~1 KiB; the cap holds two, and sixteen passes fetch at once. A module can still be evicted
        // between its commit and its lease's hold; it is then fetched again, and after three such losses the fetch
        // fails saying to raise the cap (how often depends on the machine's scheduling). What never happens is a
        // pass handed a module whose file is gone.
        using var fetcher = Fetcher(maxModuleBytes: 2048, maxCacheBytes: 2500);
        var urls = new List<string>();
        for (var i = 0; i < 16; i++)
        {
            urls.Add((await WriteModuleAsync($"m{i}.wasm", 1000 + i)).Url);
        }

        async Task<bool> PassAsync(string url)
        {
            using var lease = fetcher.Cache.OpenLease();
            FetchedModule module;
            try
            {
                module = await fetcher.FetchAsync(new ModuleRequest { Url = url, Lease = lease }, default);
            }
            catch (DownloadFailureException ex) when (ex.Message.Contains("raise the cache size cap", StringComparison.Ordinal))
            {
                return true;
            }

            await Task.Yield();
            // What the reconciler does before its pin: read the module (the ABI check).
            var readable = File.Exists(module.Path) && await fetcher.Cache.TryGetPathAsync(module.ModuleDigest, default) == module.Path;
            fetcher.Cache.Pin(module.ModuleDigest);
            return readable;
        }

        var readable = await Task.WhenAll(urls.Select(url => Task.Run(() => PassAsync(url))));

        Assert.All(readable, Assert.True);
    }

    [Fact]
    public async Task Evictions_by_a_commit_over_the_cap_are_reported_like_those_of_a_collection()
    {
        using var fetcher = Fetcher(maxModuleBytes: 1200, maxCacheBytes: 1500);
        var evicted = new List<(int Modules, long Bytes)>();
        fetcher.Cache.Evicted += (modules, bytes) => evicted.Add((modules, bytes));
        var a = await fetcher.FetchAsync(new ModuleRequest { Url = (await WriteModuleAsync("a.wasm", 1000)).Url }, default);
        var b = await fetcher.FetchAsync(new ModuleRequest { Url = (await WriteModuleAsync("b.wasm", 1000)).Url }, default);

        fetcher.Cache.CollectGarbage(0);

        Assert.Equal([(1, a.Size), (1, b.Size)], evicted);
    }

    [Fact]
    public async Task After_a_restart_an_intact_module_is_served_from_the_cache()
    {
        var (url, bytes) = await WriteModuleAsync("plugin.wasm");
        using (var before = Fetcher())
        {
            await before.FetchAsync(new ModuleRequest { Url = url }, default);
        }

        File.Delete(new Uri(url).LocalPath);
        using var after = Fetcher();
        var fetched = await after.FetchAsync(new ModuleRequest { Url = url }, default);

        Assert.True(fetched.FromCache);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(fetched.Path));
    }

    [Fact]
    public async Task After_a_restart_a_corrupted_module_file_is_detected_by_rehashing_and_fetched_again()
    {
        var (url, bytes) = await WriteModuleAsync("plugin.wasm");
        string cachedPath;
        using (var before = Fetcher())
        {
            cachedPath = (await before.FetchAsync(new ModuleRequest { Url = url }, default)).Path;
        }

        var corrupted = (byte[])bytes.Clone();
        corrupted[^1] ^= 0xff;
        await File.WriteAllBytesAsync(cachedPath, corrupted);
        using var after = Fetcher();

        var fetched = await after.FetchAsync(new ModuleRequest { Url = url }, default);

        Assert.False(fetched.FromCache);
        Assert.Equal(cachedPath, fetched.Path);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(fetched.Path));
    }

    [Fact]
    public async Task Leftover_partial_downloads_are_removed_when_the_cache_opens()
    {
        var leftover = Path.Combine(_cache.Path, "tmp", "partial");
        Directory.CreateDirectory(Path.GetDirectoryName(leftover)!);
        await File.WriteAllBytesAsync(leftover, [0, 1, 2]);

        using var fetcher = Fetcher();

        Assert.False(File.Exists(leftover));
        Assert.Equal(0, fetcher.Cache.TotalBytes);
    }
}
