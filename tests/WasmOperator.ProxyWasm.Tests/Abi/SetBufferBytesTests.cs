using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

/// <summary>
/// <c>proxy_set_buffer_bytes</c> on a body follows Envoy's <c>Buffer::copyFrom</c>: start 0 drains <c>size</c> bytes
/// (all of them when <c>size</c> reaches the end) and prepends the data; a start at or past the end appends; any other
/// start is BAD_ARGUMENT and leaves the body alone. The Rust SDK's <c>set_http_request_body(start, size, data)</c> and
/// the C++ SDK's <c>setBuffer</c> pass exactly these arguments.
/// </summary>
public class SetBufferBytesTests
{
    [Fact]
    public void Writes_at_the_start_drain_then_prepend_writes_at_the_end_append_and_writes_inside_are_refused()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = runtime.LoadPlugin(runtime.Compile(TestModules.Wat("set_body")),
            new PluginOptions { Name = "set-body", Shards = 1, MaxBodyBytes = 16 }, host);
        var request = new TestStreamHost("POST");
        request.RequestBody.Append("abcdef"u8);
        using var stream = plugin.CreateHttpStream(request);

        Assert.Equal(FilterStatus.Continue, stream.OnRequestBody(endOfStream: true).Status);

        // Fixtures/set_body.wat's steps: "<status>:<body after it>" (0 OK, 2 BAD_ARGUMENT).
        Assert.Equal(
            [
                "0:XYcdef",          // (0, 2, "XY"): two bytes drained, "XY" prepended
                "0:XYcdefgh",        // (6, 0, "gh"): appended
                "2:XYcdefgh",        // (2, 1, "Q"): inside the body, refused
                "0:>XYcdefgh",       // (0, 0, ">"): prepended
                "2:>XYcdefgh",       // (0, 1, 16 bytes): 24 bytes would pass MaxBodyBytes (16), refused
                "0:z",               // (0, 100, "z"): everything drained
                "0:",                // (0, 3, ""): drains what there is
            ],
            host.Messages());
        Assert.Equal(0, request.RequestBody.Length);
    }
}
