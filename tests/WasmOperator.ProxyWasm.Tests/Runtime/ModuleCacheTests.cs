using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Runtime;

public sealed class ModuleCacheTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "proxywasm-cache-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static void AssertRunsAddHeader(ProxyWasmRuntime runtime, CompiledModule module)
    {
        using var plugin = runtime.LoadPlugin(module, new PluginOptions { Name = "a", RootId = "add_header", Shards = 1 }, new TestPluginHost());
        var request = new TestStreamHost();
        using var stream = plugin.CreateHttpStream(request);
        stream.OnResponseHeaders(true);
        Assert.Equal("world!", request.ResponseHeaders.Get("hello"));
    }

    [Fact]
    public void A_module_is_compiled_once_per_digest()
    {
        var wasm = TestModules.Plugin("add_header");
        Assert.Same(SharedRuntime.Instance.Compile(wasm), SharedRuntime.Instance.Compile(wasm));
    }

    [Fact]
    public void A_second_process_loads_the_precompiled_module_from_the_disk_cache()
    {
        var wasm = TestModules.Plugin("add_header");
        using (var first = new ProxyWasmRuntime(new ProxyWasmRuntimeOptions { CacheDirectory = _directory }))
        {
            Assert.False(first.Compile(wasm).LoadedFromCache);
        }

        var entry = Assert.Single(Directory.GetFiles(_directory));
        using var second = new ProxyWasmRuntime(new ProxyWasmRuntimeOptions { CacheDirectory = _directory });
        Assert.Contains(second.EngineKey, Path.GetFileName(entry), StringComparison.Ordinal);
        var module = second.Compile(wasm);

        Assert.True(module.LoadedFromCache);
        AssertRunsAddHeader(second, module);
    }

    [Fact]
    public void A_corrupt_cache_entry_is_detected_and_the_module_recompiled()
    {
        var wasm = TestModules.Plugin("add_header");
        using (var first = new ProxyWasmRuntime(new ProxyWasmRuntimeOptions { CacheDirectory = _directory }))
        {
            first.Compile(wasm);
        }

        var entry = Assert.Single(Directory.GetFiles(_directory));
        var bytes = File.ReadAllBytes(entry);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(entry, bytes);

        using var second = new ProxyWasmRuntime(new ProxyWasmRuntimeOptions { CacheDirectory = _directory });
        var module = second.Compile(wasm);

        Assert.False(module.LoadedFromCache);
        AssertRunsAddHeader(second, module);
        Assert.NotEqual(bytes, File.ReadAllBytes(Assert.Single(Directory.GetFiles(_directory))));
    }
}
