using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Plugins;

public class SingletonPluginTests
{
    [Fact]
    public async Task Auth_singleton_fetches_a_token_into_shared_data_that_auth_checks_across_plugins_of_the_vm_id()
    {
        var runtime = SharedRuntime.Instance;
        var module = runtime.Compile(TestModules.Plugin("singleton"));
        var singletonHost = new TestPluginHost
        {
            HttpHandler = r =>
            {
                var headers = new HeaderMap();
                headers.Add(":status", "200");
                return Task.FromResult(new HttpCalloutResponse(headers, "s3cret"u8.ToArray(), new HeaderMap()));
            },
        };
        var vmId = "singleton-" + Guid.NewGuid().ToString("N");
        using var singleton = runtime.LoadPlugin(module,
            new PluginOptions { Name = "token", RootId = "auth_singleton", VmId = vmId, Shards = 1, Configuration = "token-service"u8.ToArray() }, singletonHost);
        using var auth = runtime.LoadPlugin(module, new PluginOptions { Name = "auth", RootId = "auth", VmId = vmId, Shards = 2 }, new TestPluginHost());

        Assert.True(await singletonHost.WaitForLogAsync(m => m == "token refreshed"));
        Assert.Equal("token-service", singletonHost.HttpCallouts.First().Upstream);
        Assert.Equal("/token", singletonHost.HttpCallouts.First().Headers.Get(":path"));

        var good = new TestStreamHost();
        good.RequestHeaders.Add("x-auth", "s3cret");
        using var goodStream = auth.CreateHttpStream(good);
        Assert.Equal(FilterStatus.Continue, goodStream.OnRequestHeaders(true).Status);

        var bad = new TestStreamHost();
        bad.RequestHeaders.Add("x-auth", "guess");
        using var badStream = auth.CreateHttpStream(bad);
        var result = badStream.OnRequestHeaders(true);
        Assert.Equal(FilterStatus.LocalResponse, result.Status);
        Assert.Equal(401, result.LocalResponse?.StatusCode);
    }

    [Fact]
    public async Task A_token_fetch_in_flight_when_the_vm_goes_away_is_not_reported_as_failed()
    {
        var runtime = SharedRuntime.Instance;
        var module = runtime.Compile(TestModules.Plugin("singleton"));
        var never = new TaskCompletionSource<HttpCalloutResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        var host = new TestPluginHost { HttpHandler = _ => never.Task };
        var plugin = runtime.LoadPlugin(module,
            new PluginOptions { Name = "token", RootId = "auth_singleton", VmId = "singleton-" + Guid.NewGuid().ToString("N"), Shards = 1, Configuration = "token-service"u8.ToArray() }, host);
        for (var waited = 0; host.HttpCallouts.IsEmpty; waited += 20)
        {
            Assert.True(waited < 10_000, "the first tick's fetch was never made");
            await Task.Delay(20);
        }

        // A reload that replaces the plugin, or the proxy stopping: proxy-runtime's onDone answers the fetch still in
        // flight with no response, which the example logged as a failed fetch on every reload.
        plugin.Dispose();

        Assert.DoesNotContain("token fetch failed", host.Messages());
    }
}
