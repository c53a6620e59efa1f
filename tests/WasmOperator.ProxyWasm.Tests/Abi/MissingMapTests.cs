using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

/// <summary>
/// <c>proxy_get_header_map_pairs</c> on a map that is not there answers OK with no pairs (pointer 0, size 0), as Envoy's
/// <c>getHeaderMapPairs</c> does: the Rust SDK's <c>get_map</c> panics on any other status. Fixtures/missing_maps.wat
/// logs "&lt;type&gt;=&lt;status&gt;&lt;e|n&gt;" per read (e: the empty answer) and traps where the Rust SDK would.
/// </summary>
public class MissingMapTests
{
    private static ProxyWasmPlugin Load(ProxyWasmRuntime runtime, TestPluginHost host, string configuration = "") =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("missing_maps")), new PluginOptions
        {
            Name = "missing-maps", Shards = 1, Configuration = System.Text.Encoding.UTF8.GetBytes(configuration),
        }, host);

    [Fact]
    public void A_request_without_trailers_reads_request_and_response_trailers_in_its_body_callback_as_empty_maps()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host);
        var request = new TestStreamHost("POST") { HasTrailers = false };
        request.RequestBody.Append("abc"u8);
        using var stream = plugin.CreateHttpStream(request);
        Assert.Equal(FilterStatus.Continue, stream.OnRequestHeaders(endOfStream: false).Status);
        host.Logs.Clear(); // what on_request_headers read

        var body = stream.OnRequestBody(endOfStream: true);

        Assert.Equal(FilterStatus.Continue, body.Status);
        Assert.Equal(["1=0e", "3=0e"], host.Messages());
    }

    [Fact]
    public void The_root_context_reads_every_map_as_an_empty_one()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();

        using var plugin = Load(runtime, host, configuration: "root");

        Assert.Equal(["0=0e", "1=0e", "2=0e", "3=0e", "4=0e", "5=0e", "6=0e", "7=0e"], host.Messages());
    }

    [Fact]
    public void A_stream_reads_grpc_metadata_and_callout_answer_maps_outside_their_callbacks_as_empty_maps()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host);
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        Assert.Equal(FilterStatus.Continue, stream.OnRequestHeaders(endOfStream: true).Status);

        Assert.Equal(["4=0e", "5=0e", "6=0e", "7=0e"], host.Messages());
    }

    [Fact]
    public async Task The_answer_to_a_failed_callout_has_empty_header_and_trailer_maps()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost(); // fails every callout
        using var plugin = Load(runtime, host);
        var request = TestStreamHost.WithRequestHeaders(5);
        using var stream = plugin.CreateHttpStream(request);
        Assert.Equal(FilterStatus.Pause, stream.OnRequestHeaders(endOfStream: true).Status);

        var resumed = await request.Resumed.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("continue", resumed);
        Assert.Null(request.Failure);
        Assert.Equal(["6=0e", "7=0e"], host.Messages());
    }

    [Fact]
    public void Value_and_size_of_a_missing_map_still_answer_not_found_and_an_unknown_map_type_bad_argument()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host);
        using var stream = plugin.CreateHttpStream(new TestStreamHost { HasTrailers = false });

        Assert.Equal(FilterStatus.Continue, stream.OnResponseHeaders(endOfStream: false).Status);

        // NOT_FOUND (1) where Envoy answers BAD_ARGUMENT: the Rust SDK reads it as None instead of panicking.
        Assert.Equal(["v=1", "s=1", "8=2n"], host.Messages());
    }
}
