using System.Net;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>A body a plugin rewrote with proxy_set_buffer_bytes goes upstream as rewritten, framed for its new length.</summary>
public sealed class BodyRewriteTests
{
    [Fact]
    public async Task A_plugin_replacing_the_start_of_the_request_body_sends_the_rewritten_body_with_its_new_content_length()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("rewrite", Wat("replace_body_start"), "rewrite")), o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        var (response, _) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new ByteArrayContent("abcdef"u8.ToArray()) });

        // Envoy's rule for start 0: the first `size` bytes are drained and the data prepended.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(upstream.Requests);
        Assert.Equal("XYZcdef", Encoding.ASCII.GetString(received.Body));
        Assert.Equal("7", received.Header("Content-Length"));
    }
}
