using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// Header values are bytes, and they cross the proxy unchanged, as through Envoy: UTF-8 text (what clients
/// send for names like "José") and obs-text that is not UTF-8 at all reach the upstream, the client and the
/// plugins exactly as they were sent, and what a plugin writes leaves exactly as it wrote it. The plugin
/// copies the first 5 bytes it got ("José" is 5 bytes in UTF-8), which shows the bytes it was given.
/// </summary>
public sealed class HeaderBytesTests
{
    // "José 日本" in UTF-8, then a lone 0xFF (valid obs-text, invalid UTF-8).
    private static readonly byte[] Name = [.. "Jos\u00e9 \u65e5\u672c "u8, 0xFF];
    private static readonly byte[] Up = [.. "na\u00efve \u2713 "u8, 0xFE];

    private static string Chars(byte[] bytes) => Encoding.Latin1.GetString(bytes);

    [Fact]
    public async Task Http1_header_bytes_reach_the_upstream_the_plugin_and_the_client_unchanged()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed($"HTTP/1.1 200 OK\r\nx-up: {Chars(Up)}\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("copy", Wat("copy_header_bytes"), "copy")), o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        byte[] head = [.. "GET /bytes HTTP/1.1\r\nHost: a\r\nConnection: close\r\nx-name: "u8, .. Name, .. "\r\n\r\n"u8];
        await stream.WriteAsync(head);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var response = new MemoryStream();
        await stream.CopyToAsync(response, timeout.Token);
        var lines = Encoding.Latin1.GetString(response.ToArray()).Split("\r\n");

        Assert.StartsWith("HTTP/1.1 200", lines[0], StringComparison.Ordinal);
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal(Chars(Name), seen.Header("x-name"));
        Assert.Equal(Chars(Name[..5]), seen.Header("x-copied"));
        Assert.Contains("x-up: " + Chars(Up), lines);
        Assert.Contains("x-up-copy: " + Chars(Up[..5]), lines);
    }

    [Fact]
    public async Task Grpc_metadata_bytes_reach_the_h2_upstream_the_plugin_and_the_client_unchanged()
    {
        await using var upstream = await BytesUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("copy", Wat("copy_header_bytes"), "copy")), o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);
        using var client = new HttpClient(new SocketsHttpHandler
        {
            RequestHeaderEncodingSelector = (_, _) => Encoding.Latin1,
            ResponseHeaderEncodingSelector = (_, _) => Encoding.Latin1,
        });
        // gRPC goes to the upstream over HTTP/2 (through YARP and HttpClient, not the HTTP/1.1 forwarder).
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{proxy.Server.Options.H2cPort}/bytes.Service/Call")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 0]) { Headers = { { "content-type", "application/grpc" } } },
        };
        request.Headers.TryAddWithoutValidation("x-name", Chars(Name));

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Chars(Name), response.Headers.GetValues("x-name-seen").Single());
        Assert.Equal(Chars(Name[..5]), response.Headers.GetValues("x-copied-seen").Single());
        Assert.Equal(Chars(Up), response.Headers.GetValues("x-up").Single());
        Assert.Equal(Chars(Up[..5]), response.Headers.GetValues("x-up-copy").Single());
    }

    /// <summary>An h2c upstream that reads and writes header values as bytes: it echoes x-name and x-copied, and sends x-up.</summary>
    private static class BytesUpstream
    {
        public static Task<LoopbackApp> StartAsync() => LoopbackApp.StartAsync(HttpProtocols.Http2, context =>
        {
            context.Response.Headers["x-name-seen"] = context.Request.Headers["x-name"];
            context.Response.Headers["x-copied-seen"] = context.Request.Headers["x-copied"];
            context.Response.Headers["x-up"] = Chars(Up);
            return Task.CompletedTask;
        }, k =>
        {
            k.RequestHeaderEncodingSelector = _ => Encoding.Latin1;
            k.ResponseHeaderEncodingSelector = _ => Encoding.Latin1;
        });
    }
}
