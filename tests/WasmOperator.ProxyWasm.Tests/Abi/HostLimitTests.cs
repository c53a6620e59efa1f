using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

/// <summary>Header maps and bodies live in host memory, outside the plugin's memory limit: a plugin cannot grow them without bound.</summary>
public class HostLimitTests
{
    // Fixtures/host_limits.wat logs, per callback, "<refused status><successful calls, 2 digits><status of a shrinking call>".
    private static ProxyWasmPlugin Load(ProxyWasmRuntime runtime, TestPluginHost host, int maxBodyBytes = 1024 * 1024) =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("host_limits")), new PluginOptions
        {
            Name = "host-limits", Shards = 1, MemoryLimitBytes = 1 << 20, MaxBodyBytes = maxBodyBytes,
        }, host);

    [Fact]
    public void A_header_map_a_plugin_grows_past_1_MiB_of_pairs_refuses_the_addition_with_bad_argument()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host);
        var request = new TestStreamHost();
        var before = request.RequestHeaders.ToPairs().Length;
        using var stream = plugin.CreateHttpStream(request);

        Assert.Equal(FilterStatus.Continue, stream.OnRequestHeaders(endOfStream: false).Status);

        // Each x-bomb pair takes 60016 bytes of pairs encoding (8 of lengths, 6 + 60000, 2 NULs).
        var fits = (1024 * 1024 - before) / 60016;
        Assert.Equal($"{(int)ProxyStatus.BadArgument}{fits:D2}{(int)ProxyStatus.Ok}", host.Messages().Single());
        // The replace shrank the map back to one x-bomb value.
        Assert.Equal(before + 60016, request.RequestHeaders.ToPairs().Length);
    }

    [Fact]
    public void A_body_a_plugin_grows_past_the_max_body_bytes_refuses_the_write_with_bad_argument()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host, maxBodyBytes: 1024 * 1024);
        var request = new TestStreamHost();
        request.RequestBody.Append(new byte[10]);
        using var stream = plugin.CreateHttpStream(request);

        Assert.Equal(FilterStatus.Continue, stream.OnRequestBody(endOfStream: true).Status);

        // 10 + 15 × 64 KiB fits in 1 MiB, a 16th append does not; replacing the whole body with 10 bytes is fine.
        Assert.Equal($"{(int)ProxyStatus.BadArgument}15{(int)ProxyStatus.Ok}", host.Messages().Single());
        Assert.Equal(10, request.RequestBody.Length);
    }
}
