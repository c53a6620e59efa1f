using System.IO.Compression;
using System.Text;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

public class ForeignFunctionTests
{
    [Fact]
    public void Registered_unknown_failing_and_built_in_foreign_functions_answer_with_the_abi_statuses_and_results()
    {
        var functions = new Dictionary<string, ForeignFunction>
        {
            ["upper"] = (ReadOnlySpan<byte> arguments, out byte[] result) =>
            {
                result = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(arguments).ToUpperInvariant());
                return ProxyStatus.Ok;
            },
            ["fails"] = (ReadOnlySpan<byte> arguments, out byte[] result) =>
            {
                result = "why"u8.ToArray();
                return ProxyStatus.BadArgument;
            },
            ["throws"] = (ReadOnlySpan<byte> arguments, out byte[] result) => throw new InvalidOperationException("boom"),
        };
        var host = new TestPluginHost();
        using var plugin = SharedRuntime.Instance.LoadPlugin(SharedRuntime.Instance.Compile(TestModules.Wat("foreign_function")),
            new PluginOptions { Name = "foreign", Shards = 1, ForeignFunctions = functions }, host);
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        Assert.Equal(FilterStatus.Continue, stream.OnRequestHeaders(true).Status);

        Assert.Equal(
            [
                "00", "HELLO FOREIGN",
                "01",
                "02", "why",
                "foreign function 'throws' failed: boom", "10",
                "00", "00", "hello foreign",
                "03",
                "06",
                "06",
                "00", "13",
                "00", "00", "00",
            ],
            host.Messages());
        Assert.Equal(1, plugin.HealthyShards);
    }

    [Fact]
    public void A_registered_function_replaces_the_built_in_of_the_same_name()
    {
        var host = new TestPluginHost();
        var functions = new Dictionary<string, ForeignFunction>
        {
            [BuiltInForeignFunctions.Compress] = (ReadOnlySpan<byte> arguments, out byte[] result) =>
            {
                result = [];
                return ProxyStatus.Unimplemented;
            },
        };
        using var plugin = SharedRuntime.Instance.LoadPlugin(SharedRuntime.Instance.Compile(TestModules.Wat("foreign_function")),
            new PluginOptions { Name = "foreign-override", Shards = 1, ForeignFunctions = functions }, host);
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        stream.OnRequestHeaders(true);

        // upper, fails and throws are unknown here (01, nothing returned: the logged results are
        // empty); compress answers 12 and the uncompress of its empty result (ptr 0, size 0) is no zlib stream (03).
        Assert.Equal(["01", "", "01", "01", "", "01", "12", "03"], host.Messages().Take(8));
    }

    [Fact]
    public void Uncompress_inflates_what_zlib_produced_and_refuses_truncated_corrupt_or_oversized_data()
    {
        var text = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("proxy-wasm foreign function ", 100)));
        using var zlibOutput = new MemoryStream();
        using (var zlib = new ZLibStream(zlibOutput, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            zlib.Write(text);
        }

        var compressed = zlibOutput.ToArray();

        Assert.Equal(ProxyStatus.Ok, BuiltInForeignFunctions.UncompressZlib(compressed, 1 << 20, out var inflated));
        Assert.Equal(text, inflated);
        Assert.Equal(ProxyStatus.Ok, BuiltInForeignFunctions.CompressZlib(text, out var ours));
        Assert.Equal(ProxyStatus.Ok, BuiltInForeignFunctions.UncompressZlib(ours, 1 << 20, out var roundTrip));
        Assert.Equal(text, roundTrip);
        Assert.Equal(ProxyStatus.SerializationFailure, BuiltInForeignFunctions.UncompressZlib(compressed, text.Length - 1, out var limited));
        Assert.Empty(limited);
        var corrupt = compressed.ToArray();
        corrupt[^1] ^= 0xFF; // Adler-32 trailer
        Assert.Equal(ProxyStatus.SerializationFailure, BuiltInForeignFunctions.UncompressZlib(corrupt, 1 << 20, out _));
        Assert.Equal(ProxyStatus.SerializationFailure, BuiltInForeignFunctions.UncompressZlib(compressed.AsSpan(0, compressed.Length / 2), 1 << 20, out _));
        Assert.Equal(ProxyStatus.SerializationFailure, BuiltInForeignFunctions.UncompressZlib([], 1 << 20, out _));
    }
}
