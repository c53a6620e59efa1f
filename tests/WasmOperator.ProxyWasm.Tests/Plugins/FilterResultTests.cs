using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Plugins;

public class FilterResultTests
{
    // Every stream callback returns the same action.
    private static ProxyWasmPlugin Load(int action)
    {
        var wasm = Wasmtime.Module.ConvertText($$"""
            (module
              (memory (export "memory") 1)
              (func (export "proxy_abi_version_0_2_1"))
              (func (export "malloc") (param i32) (result i32) (i32.const 1024))
              (func (export "proxy_on_context_create") (param i32 i32))
              (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const {{action}}))
              (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const {{action}}))
              (func (export "proxy_on_request_trailers") (param i32 i32) (result i32) (i32.const {{action}}))
              (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const {{action}}))
              (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (i32.const {{action}}))
              (func (export "proxy_on_response_trailers") (param i32 i32) (result i32) (i32.const {{action}})))
            """).ToArray();
        return SharedRuntime.Instance.LoadPlugin(SharedRuntime.Instance.Compile(wasm),
            new PluginOptions { Name = "action-" + action, Shards = 1 }, new TestPluginHost());
    }

    [Theory]
    [InlineData(0, FilterStatus.Continue)]
    [InlineData(1, FilterStatus.Pause)]
    [InlineData(2, FilterStatus.Continue)] // ContinueAndEndStream (C++, AssemblyScript): Envoy continues
    [InlineData(3, FilterStatus.Pause)]
    [InlineData(4, FilterStatus.Pause)]
    [InlineData(5, FilterStatus.Pause)]
    public void A_header_callback_action_maps_as_Envoy_maps_a_FilterHeadersStatus(int action, FilterStatus expected)
    {
        using var plugin = Load(action);
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        var request = stream.OnRequestHeaders(endOfStream: false);
        var response = stream.OnResponseHeaders(endOfStream: false);

        Assert.Equal((expected, action), (request.Status, request.Action));
        Assert.Equal((expected, action), (response.Status, response.Action));
    }

    [Theory]
    [InlineData(0, FilterStatus.Continue)]
    [InlineData(1, FilterStatus.Pause)]
    [InlineData(2, FilterStatus.Pause)]
    [InlineData(3, FilterStatus.Pause)]
    public void A_body_or_trailer_callback_continues_only_on_0(int action, FilterStatus expected)
    {
        using var plugin = Load(action);
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        Assert.Equal(expected, stream.OnRequestBody(endOfStream: false).Status);
        Assert.Equal(expected, stream.OnRequestTrailers().Status);
        Assert.Equal(expected, stream.OnResponseBody(endOfStream: false).Status);
        Assert.Equal(expected, stream.OnResponseTrailers().Status);
    }
}
