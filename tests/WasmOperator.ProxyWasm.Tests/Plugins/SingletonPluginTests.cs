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
}
