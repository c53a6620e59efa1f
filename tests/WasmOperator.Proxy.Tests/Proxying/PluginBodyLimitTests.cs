using System.Net;
using System.Text;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>A body a plugin writes is held by the proxy like one it buffers: --max-body-bytes bounds both.</summary>
public sealed class PluginBodyLimitTests
{
    [Fact]
    public async Task A_plugin_cannot_grow_a_body_past_max_body_bytes()
    {
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("append", Wat("append_body"), "append")), o => o.MaxBufferedBodyBytes = 100_000);

        var (response, echo) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new ByteArrayContent(Encoding.ASCII.GetBytes("small")) });

        // The second 64 KiB append would pass 100,000 bytes: refused, and the plugin answers 413 itself.
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("body_limit", await response.Content.ReadAsStringAsync());
        Assert.Null(echo);
    }
}
