using System.Text;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Plugins;

public class ShowcasePluginTests
{
    private static ProxyWasmPlugin Load(ProxyWasmRuntime runtime, TestPluginHost host, string configuration = "", int shards = 2, string vmId = "") =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Plugin("showcase")),
            new PluginOptions { Name = "showcase-plugin", RootId = "showcase", VmId = vmId, Shards = shards, Configuration = Encoding.UTF8.GetBytes(configuration) },
            host);

    private static TestStreamHost Run(ProxyWasmPlugin plugin, string path, string? body = null)
    {
        var request = new TestStreamHost(path: path);
        using var stream = plugin.CreateHttpStream(request);
        var headers = stream.OnRequestHeaders(body is null);
        if (headers.Status == FilterStatus.LocalResponse)
        {
            return request;
        }

        if (body is not null)
        {
            request.RequestBody.Append(Encoding.UTF8.GetBytes(body[..2]));
            Assert.Equal(FilterStatus.Pause, stream.OnRequestBody(false).Status);
            request.RequestBody.Append(Encoding.UTF8.GetBytes(body[2..]));
            Assert.Equal(FilterStatus.Continue, stream.OnRequestBody(true).Status);
        }

        stream.OnResponseHeaders(true);
        stream.Complete();
        return request;
    }

    [Fact]
    public void Properties_are_read_by_path_and_wasi_stdout_and_proxy_log_reach_the_log_sink()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host);

        var request = Run(plugin, "/hello");

        Assert.Equal("showcase-plugin", request.RequestHeaders.Get("x-plugin-name"));
        Assert.Equal("/hello", request.RequestHeaders.Get("x-path"));
        Assert.Contains((ProxyLogLevel.Info, "showcase saw /hello"), host.Logs);
        Assert.Contains((ProxyLogLevel.Info, "showcase request /hello"), host.Logs);
    }

    [Fact]
    public void Counters_defined_by_the_plugin_count_every_request_across_shards()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = Load(runtime, new TestPluginHost(), shards: 2);

        for (var i = 0; i < 7; i++)
        {
            Run(plugin, "/");
        }

        Assert.True(runtime.Metrics.TryGet("showcase_requests", MetricType.Counter, out var metric));
        Assert.Equal(7, metric.Value);
    }

    [Fact]
    public void A_local_reply_carries_status_body_and_lower_cased_headers()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = Load(runtime, new TestPluginHost());
        var request = new TestStreamHost(path: "/local");
        using var stream = plugin.CreateHttpStream(request);

        var result = stream.OnRequestHeaders(true);

        Assert.Equal(FilterStatus.LocalResponse, result.Status);
        Assert.Equal(418, result.LocalResponse?.StatusCode);
        Assert.Equal("I'm a teapot", Encoding.UTF8.GetString(result.LocalResponse?.Body ?? []));
        Assert.Equal("yes", result.LocalResponse?.Headers.Get("x-local"));
        Assert.Equal("x-local", result.LocalResponse?.Headers[0].Key);
    }

    [Fact]
    public void A_paused_body_is_buffered_and_then_rewritten_as_a_whole()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = Load(runtime, new TestPluginHost());

        var request = Run(plugin, "/body", body: "hello body");

        Assert.Equal("rewritten:hello body", Encoding.UTF8.GetString(request.RequestBody.Span));
    }

    [Fact]
    public async Task Shared_data_compare_and_swap_loses_no_update_under_contention_across_shards()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = Load(runtime, new TestPluginHost(), shards: 4, vmId: "cas");
        const int Requests = 200;

        // The first write creates the key with cas 0, which is unconditional in Envoy too (cpp-host SharedData::set):
        // two first writers racing would both write 1. CAS guards every write after it.
        var first = Run(plugin, "/cas").ResponseHeaders.Get("x-counter");
        var values = await Task.WhenAll(Enumerable.Range(1, Requests - 1).Select(_ => Task.Run(() => Run(plugin, "/cas").ResponseHeaders.Get("x-counter"))));

        // Every increment saw a distinct value: none was lost to a concurrent write.
        Assert.Equal("1", first);
        Assert.Equal(Enumerable.Range(2, Requests - 1), values.Select(v => int.Parse(v ?? "0", System.Globalization.CultureInfo.InvariantCulture)).Order());
    }

    [Fact]
    public async Task Enqueued_items_wake_the_registering_root_context_which_dequeues_them()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host, shards: 1, vmId: "queue");
        var request = new TestStreamHost(path: "/queue");
        request.RequestHeaders.Add("x-id", "item-42");
        using var stream = plugin.CreateHttpStream(request);

        stream.OnRequestHeaders(true);

        Assert.True(await host.WaitForLogAsync(m => m == "dequeued item-42"));
    }

    [Fact]
    public async Task Items_enqueued_on_one_shard_reach_the_root_of_the_shard_that_registered_the_queue()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host, shards: 2, vmId: "queue-2");

        await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Task.Run(() =>
        {
            var request = new TestStreamHost(path: "/queue");
            request.RequestHeaders.Add("x-id", $"item-{i}");
            using var stream = plugin.CreateHttpStream(request);
            stream.OnRequestHeaders(true);
        })));

        for (var i = 0; i < 6; i++)
        {
            Assert.True(await host.WaitForLogAsync(m => m == $"dequeued item-{i}"));
        }
    }

    [Fact]
    public async Task The_root_context_ticks_at_its_period_until_it_turns_the_timer_off()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host, configuration: "tick", shards: 1);

        Assert.True(await host.WaitForLogAsync(m => m == "ticked 3 times"));
        Assert.True(runtime.Metrics.TryGet("showcase_ticks", MetricType.Gauge, out var gauge));
        Assert.Equal(3, gauge.Value);
    }
}
