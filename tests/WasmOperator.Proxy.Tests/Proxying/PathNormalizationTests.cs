using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// Plugins see the path the upstream gets, as Envoy's filters see its normalized path: a path authorizer
/// (deny_admin_path.wat: 403 when request.path starts with /admin) cannot be walked around with dot segments,
/// escapes or the absolute form, which the proxy resolves before forwarding.
/// </summary>
public sealed class PathNormalizationTests
{
    [Theory]
    [InlineData("/admin")]
    [InlineData("/public/../admin")]
    [InlineData("/public/%2E%2E/admin")]
    [InlineData("/%61dmin")]
    [InlineData("http://a/admin")]
    public async Task A_path_authorizer_sees_the_path_the_upstream_would_get(string target)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("deny", Wat("deny_admin_path"), "deny")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        var reply = await RawHttp.GetAsync(proxy.Server.Options.Port, target, host: "a");

        // Before: 200, and the upstream got "GET /admin" (the plugin had read the raw target).
        Assert.StartsWith("HTTP/1.1 403", reply, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData("/public/./x?y=1&z=%20", "GET /public/x?y=1&z=%20 ")]
    [InlineData("/a%2Fb", "GET /a%2Fb ")]
    public async Task An_allowed_path_goes_upstream_as_the_plugins_saw_it(string target, string requestLine)
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("deny", Wat("deny_admin_path"), "deny")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        var reply = await RawHttp.GetAsync(proxy.Server.Options.Port, target, host: "a");

        Assert.StartsWith("HTTP/1.1 200", reply, StringComparison.Ordinal);
        Assert.StartsWith(requestLine, Assert.Single(upstream.Requests).RequestLine, StringComparison.Ordinal);
    }
}
