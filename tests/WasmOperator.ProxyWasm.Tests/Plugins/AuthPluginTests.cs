using System.Text;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Plugins;

public class AuthPluginTests
{
    private static ProxyWasmPlugin Load(TestPluginHost host) =>
        SharedRuntime.Instance.LoadPlugin(
            SharedRuntime.Instance.Compile(TestModules.Plugin("auth")),
            new PluginOptions { Name = "auth", RootId = "auth", Shards = 2, Configuration = "auth-cluster"u8.ToArray() },
            host);

    private static HttpCalloutResponse Status(string status)
    {
        var headers = new HeaderMap();
        headers.Add(":status", status);
        return new HttpCalloutResponse(headers, [], new HeaderMap());
    }

    [Fact]
    public async Task Auth_sends_the_request_headers_to_its_cluster_and_continues_with_added_header_on_200()
    {
        var host = new TestPluginHost();
        var upstream = new TaskCompletionSource<HttpCalloutResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        host.HttpHandler = _ => upstream.Task;
        using var plugin = Load(host);
        var request = new TestStreamHost(path: "/secret");
        using var stream = plugin.CreateHttpStream(request);

        var result = stream.OnRequestHeaders(true);
        Assert.Equal(FilterStatus.Pause, result.Status);
        var callout = Assert.Single(host.HttpCallouts);
        Assert.Equal("auth-cluster", callout.Upstream);
        Assert.Equal("/secret", callout.Headers.Get(":path"));

        upstream.SetResult(Status("200"));

        Assert.Equal("continue", await request.Resumed.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("authorized", request.RequestHeaders.Get("added-header"));
        Assert.Null(request.LocalResponse);
    }

    [Fact]
    public async Task Auth_answers_401_not_authorized_when_the_callout_answers_403()
    {
        var host = new TestPluginHost { HttpHandler = _ => Task.FromResult(Status("403")) };
        using var plugin = Load(host);
        var request = new TestStreamHost();
        using var stream = plugin.CreateHttpStream(request);

        Assert.Equal(FilterStatus.Pause, stream.OnRequestHeaders(true).Status);

        Assert.Equal("local", await request.Resumed.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(401, request.LocalResponse?.StatusCode);
        Assert.Equal("not authorized", Encoding.UTF8.GetString(request.LocalResponse?.Body ?? []));
        Assert.Null(request.RequestHeaders.Get("added-header"));
    }

    [Fact]
    public async Task A_failed_callout_is_delivered_as_a_response_without_headers()
    {
        var host = new TestPluginHost(); // the default handler faults
        using var plugin = Load(host);
        var request = new TestStreamHost();
        using var stream = plugin.CreateHttpStream(request);

        stream.OnRequestHeaders(true);

        Assert.Equal("local", await request.Resumed.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(401, request.LocalResponse?.StatusCode);
    }

    [Fact]
    public async Task Concurrent_callouts_resume_the_stream_that_started_each_one()
    {
        var host = new TestPluginHost
        {
            HttpHandler = async r =>
            {
                await Task.Yield();
                return Status(r.Headers.Get(":path") == "/ok" ? "200" : "403");
            },
        };
        using var plugin = Load(host);
        var requests = Enumerable.Range(0, 20).Select(i => new TestStreamHost(path: i % 2 == 0 ? "/ok" : "/no")).ToList();
        var streams = requests.Select(plugin.CreateHttpStream).ToList();
        foreach (var stream in streams)
        {
            stream.OnRequestHeaders(true);
        }

        for (var i = 0; i < requests.Count; i++)
        {
            Assert.Equal(i % 2 == 0 ? "continue" : "local", await requests[i].Resumed.WaitAsync(TimeSpan.FromSeconds(10)));
        }

        foreach (var stream in streams)
        {
            stream.Dispose();
        }
    }
}
