using Microsoft.AspNetCore.Http;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>--route PREFIX=CLUSTER: which paths a prefix takes.</summary>
public sealed class RouteTests
{
    [Theory]
    [InlineData("/api", "/api", true)]
    [InlineData("/api", "/api/users", true)]
    [InlineData("/api", "/apix", false)]
    [InlineData("/api/", "/api/users", true)]
    [InlineData("/api/", "/api/", true)]
    [InlineData("/api/", "/api", false)]
    [InlineData("/api/", "/apix/users", false)]
    [InlineData("/", "/", true)]
    [InlineData("/", "/index.html", true)]
    [InlineData("/", "", true)]
    public void A_prefix_takes_its_segments_and_a_prefix_ending_in_a_slash_takes_everything_under_it(string prefix, string path, bool under) =>
        Assert.Equal(under, ProxyOptions.IsUnder(new PathString(path.Length == 0 ? null : path), new PathString(prefix)));

    [Fact]
    public async Task Routes_ending_in_a_slash_send_every_path_under_them_to_their_cluster()
    {
        await using var api = await Upstream.StartAsync();
        await using var web = await Upstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n", o =>
        {
            o.Clusters["api"] = api.Address;
            o.Clusters["web"] = web.Address;
            o.Routes.Add(new RouteOption("/api/", "api"));
            o.Routes.Add(new RouteOption("/", "web"));
        });

        foreach (var (path, expected) in new[] { ("/api/users", api), ("/api/users/1", api), ("/index.html", web), ("/static/app.js", web), ("/", web) })
        {
            var before = expected.Requests;
            var (response, _) = await proxy.GetAsync(path);
            response.EnsureSuccessStatusCode();
            Assert.True(expected.Requests == before + 1, $"{path} did not reach the {(expected == api ? "api" : "web")} cluster");
        }

        Assert.Equal(2, api.Requests);
        Assert.Equal(3, web.Requests);
    }
}
