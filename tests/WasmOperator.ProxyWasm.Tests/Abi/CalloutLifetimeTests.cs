using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

/// <summary>
/// A callout belongs to the root context whichever context made it (cpp-host <c>exports.cc</c>:
/// <c>http_call</c>, <c>grpc_call</c> and <c>grpc_stream</c> run on <c>context->root_context()</c>; Envoy's
/// <c>Context::~Context</c> cancels only what that context made). Deleting the stream that made a call does not
/// cancel it, and the reply reaches the root after on_delete (proxy-wasm-go-sdk#261 handles exactly that); only the
/// VM going away, with its root context, cancels the calls in flight.
/// </summary>
public class CalloutLifetimeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>What the fixture logs for a reply that comes after its stream was deleted (root context 1).</summary>
    private const string DeliveredAfterTheStream = "delivered to 1 effective=2 continue=0 reply=0 done=1";

    private sealed class Callee
    {
        private readonly List<TaskCompletionSource<HttpCalloutResponse>> _answers = [];

        public Callee(TestPluginHost host) => host.HttpHandler = _ =>
        {
            var answer = new TaskCompletionSource<HttpCalloutResponse>();
            lock (_answers)
            {
                _answers.Add(answer);
            }

            return answer.Task;
        };

        /// <summary>Answers call <paramref name="index"/> (in call order) with 200.</summary>
        public void Answer(int index)
        {
            var headers = new HeaderMap();
            headers.Add(":status", "200");
            lock (_answers)
            {
                _answers[index].SetResult(new HttpCalloutResponse(headers, [], new HeaderMap(0)));
            }
        }
    }

    private static ProxyWasmPlugin Load(ProxyWasmRuntime runtime, TestPluginHost host) =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("callout_lifetime")),
            new PluginOptions { Name = "callout-lifetime", Shards = 1, RebuildBackoff = TimeSpan.Zero }, host);

    private static async Task DeliveriesAsync(TestPluginHost host, int count) =>
        Assert.True(await host.WaitForLogAsync(_ => host.Messages().Count(m => m.StartsWith("delivered", StringComparison.Ordinal)) >= count),
            $"expected {count} replies delivered, the plugin logged: {string.Join(" | ", host.Messages())}");

    [Fact]
    public async Task Deleting_a_stream_leaves_its_callouts_running_and_their_replies_reach_the_root()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        var callee = new Callee(host);
        using var plugin = Load(runtime, host);
        var request = new TestStreamHost();
        request.RequestHeaders.Add("x-root", "1");
        using var stream = plugin.CreateHttpStream(request);

        Assert.Equal(FilterStatus.Pause, stream.OnRequestHeaders(true).Status);
        stream.Complete();

        Assert.All(host.HttpCalloutCancellations, c => Assert.False(c.IsCancellationRequested));
        callee.Answer(0); // the stream's own call
        callee.Answer(1); // the root's
        await DeliveriesAsync(host, 2);
        // The stream is gone: setting it effective is BAD_ARGUMENT, and resuming or answering it on the root is
        // Envoy's no-op (OK); the finished request is not touched.
        Assert.Equal(["deleted", DeliveredAfterTheStream, DeliveredAfterTheStream], host.Messages());
        Assert.Empty(request.Continued);
        Assert.Null(request.LocalResponse);
        Assert.False(request.Resumed.IsCompleted);
    }

    [Fact]
    public async Task A_call_made_in_on_done_is_sent_and_answered_after_the_stream_is_deleted()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        var callee = new Callee(host);
        using var plugin = Load(runtime, host);
        var request = new TestStreamHost();
        request.RequestHeaders.Add("x-defer", "1");
        using var stream = plugin.CreateHttpStream(request);

        stream.OnRequestHeaders(true);
        stream.Complete(); // on_done makes a second call and returns false: ignored for a stream

        Assert.Equal(2, host.HttpCallouts.Count);
        Assert.All(host.HttpCalloutCancellations, c => Assert.False(c.IsCancellationRequested));
        callee.Answer(1);
        callee.Answer(0);
        await DeliveriesAsync(host, 2);
        // proxy_done: nothing waits for it (a stream's on_done false is ignored), NOT_FOUND as in cpp-host.
        Assert.Equal(["deleted", DeliveredAfterTheStream, DeliveredAfterTheStream], host.Messages());
    }

    [Fact]
    public void Disposing_the_plugin_cancels_the_calls_still_in_flight()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        _ = new Callee(host);
        var plugin = Load(runtime, host);
        using (var stream = plugin.CreateHttpStream(new TestStreamHost()))
        {
            stream.OnRequestHeaders(true);
        }

        var call = Assert.Single(host.HttpCalloutCancellations);
        Assert.False(call.IsCancellationRequested);

        plugin.Dispose(); // the plugin removed from the set: its root context is gone

        Assert.True(call.IsCancellationRequested);
    }

    [Fact]
    public async Task A_shard_that_traps_cancels_its_calls_and_the_rebuilt_VM_never_gets_their_replies()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        var callee = new Callee(host);
        using var plugin = Load(runtime, host);
        using (var stream = plugin.CreateHttpStream(new TestStreamHost()))
        {
            stream.OnRequestHeaders(false);
            Assert.Equal(FilterStatus.Failed, stream.OnRequestTrailers().Status); // traps: the VM and its root are gone
        }

        Assert.True(Assert.Single(host.HttpCalloutCancellations).IsCancellationRequested);
        callee.Answer(0);

        using (var stream = plugin.CreateHttpStream(new TestStreamHost())) // on a rebuilt VM
        {
            Assert.Equal(FilterStatus.Pause, stream.OnRequestHeaders(true).Status);
        }

        callee.Answer(1);
        await DeliveriesAsync(host, 1);
        Assert.Equal(["deleted", DeliveredAfterTheStream], host.Messages());
    }
}
