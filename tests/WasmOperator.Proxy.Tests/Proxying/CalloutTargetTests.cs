using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmOperator.Proxy.Proxying;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// Only the named cluster picks where a callout goes, as in Envoy: the plugin's <c>:path</c> is sent as the
/// path, never resolved into another host. The auth example copies the client's request headers into its
/// callout, so a client-controlled target must not be able to choose the authorizer.
/// </summary>
public sealed class CalloutTargetTests
{
    [Fact]
    public async Task A_client_target_like_a_network_path_cannot_send_the_auth_examples_callout_elsewhere()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("auth", Example("auth"), "auth", extra: TestModules.AuthzConfig)));
        // Any server that answers 200 stands in for the attacker's: here the harness's upstream.
        var attacker = proxy.Upstream.Port;

        var reply = await RawHttp.GetAsync(proxy.Server.Options.Port, $"//127.0.0.1:{attacker}/steal");

        Assert.StartsWith("HTTP/1.1 401", reply, StringComparison.Ordinal);
        Assert.Equal(0, proxy.Upstream.Requests);
        Assert.Equal(1, proxy.Authorizer.Requests);
    }

    [Theory]
    [InlineData("http://authz:9000", "//evil:81/x?a=1", "http://authz:9000//evil:81/x?a=1")]
    [InlineData("http://authz:9000/base/", "/check/../admin?x=%2F", "http://authz:9000/base/check/../admin?x=%2F")]
    [InlineData("http://authz:9000/base", "//evil:81/x", "http://authz:9000/base//evil:81/x")]
    [InlineData("https://authz", "/svc.Auth/Check", "https://authz/svc.Auth/Check")]
    public void The_target_is_the_clusters_address_and_path_then_the_path_as_given(string cluster, string path, string expected)
    {
        var target = CalloutClient.Target(new Uri(cluster), path);

        Assert.Equal(expected, target.OriginalString);
        Assert.Equal(new Uri(cluster).Authority, target.Authority);
    }

    [Fact]
    public async Task A_clusters_path_prefixes_a_callout_as_it_prefixes_a_routed_request()
    {
        // --cluster cb=http://host/okprefix: a routed /r/x went to /okprefix/r/x, a callout's /x to /x (another resource).
        await using var cluster = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        var address = new Uri(cluster.Address, "/okprefix");
        await using (var routing = await ProxyHarness.StartAsync(Yaml(), o =>
        {
            o.Clusters["cb"] = address;
            o.Routes.Add(new WasmOperator.Proxy.Configuration.RouteOption("/r", "cb"));
        }))
        {
            Assert.Equal(HttpStatusCode.OK, (await routing.GetAsync("/r/x")).Response.StatusCode);
        }

        await using (var calling = await ProxyHarness.StartAsync(Yaml(Plugin("caller", Wat("callout_status_echo"), "caller", "cb")), o => o.Clusters["cb"] = address))
        {
            // The plugin calls /slow and answers with what it got.
            var (response, _) = await calling.GetAsync("/q");
            Assert.StartsWith("status=200 ", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(["GET /okprefix/r/x HTTP/1.1", "GET /okprefix/slow HTTP/1.1"], cluster.Requests.Select(r => r.RequestLine).ToArray());
    }
}
