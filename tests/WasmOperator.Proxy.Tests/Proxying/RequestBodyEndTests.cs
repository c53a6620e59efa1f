using System.Text.Json;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// Where a request body's end reaches the plugins: with its last bytes, as Envoy hands on a DATA frame that carries
/// END_STREAM, and not in an empty callback after them. The body_callbacks fixture logs each callback ("Q ctx size eos").
/// </summary>
public sealed class RequestBodyEndTests
{
    private static Task<ProxyHarness> StartAsync() => ProxyHarness.StartAsync(Yaml(Plugin("log", Wat("body_callbacks"), "log")));

    private static List<string> BodyCallbacks(ProxyHarness proxy) =>
        [.. proxy.Logs.Lines.Where(l => l.Contains("wasm log default/log: Q ", StringComparison.Ordinal))
            .Select(l => string.Join(' ', l[(l.IndexOf(": Q ", StringComparison.Ordinal) + 2)..].Split(' ') is var f ? [f[0], f[2], f[3]] : []))];

    [Fact]
    public async Task An_h2c_body_of_its_declared_length_ending_with_its_data_frame_reaches_the_plugin_with_end_of_stream()
    {
        await using var proxy = await StartAsync();

        var reply = await RawHttp.SendH2Async(proxy.Server.Options.H2cPort,
            [(":method", "POST"), (":scheme", "http"), (":path", "/upload"), (":authority", "app"), ("content-length", "5")], "hello"u8.ToArray());

        Assert.Equal(200, reply.Status);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("wasm log default/log: L ")), "on_log");
        // It was "Q 5 0" then "Q 0 1": a plugin replacing the body at its end saw none of it there.
        Assert.Equal(["Q 5 1"], BodyCallbacks(proxy));
        Assert.Contains("\"Body\":\"hello\"", reply.Body, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_h2c_body_followed_by_trailers_ends_at_the_trailers()
    {
        await using var proxy = await StartAsync();

        var reply = await RawHttp.SendH2Async(proxy.Server.Options.H2cPort,
            [(":method", "POST"), (":scheme", "http"), (":path", "/upload"), (":authority", "app"), ("content-length", "5")], "hello"u8.ToArray(),
            trailers: [("x-checksum", "abc")]);

        Assert.Equal(200, reply.Status);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Contains("wasm log default/log: L ")), "on_log");
        // Guard: the data frame did not end the stream, the trailers did (on_request_trailers follows).
        Assert.Equal(["Q 5 0"], BodyCallbacks(proxy));
        Assert.True(proxy.Logs.Contains("wasm log default/log: t "), string.Join(" | ", proxy.Logs.Lines));
    }
}
