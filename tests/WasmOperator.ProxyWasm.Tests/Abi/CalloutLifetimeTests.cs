using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

/// <summary>
/// A callout belongs to the context that was effective when it was made. Deleting a stream context
/// cancels its calls and nothing more is delivered for them (Envoy <c>Context::~Context</c>); calls the
/// root context made are untouched.
/// </summary>
public class CalloutLifetimeTests
{
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

        /// <summary>Answers call <paramref name="index"/> (in call order) with 200; deliveries run before this returns or are dropped.</summary>
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
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("callout_lifetime")), new PluginOptions { Name = "callout-lifetime", Shards = 1 }, host);

    [Fact]
    public async Task Deleting_a_stream_cancels_its_callouts_delivers_nothing_for_them_and_keeps_the_roots()
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

        var (own, root) = (host.HttpCalloutCancellations.ElementAt(0), host.HttpCalloutCancellations.ElementAt(1));
        Assert.True(own.IsCancellationRequested);
        Assert.False(root.IsCancellationRequested);
        callee.Answer(0); // too late: the stream's call was cancelled
        callee.Answer(1);
        Assert.True(await host.WaitForLogAsync(m => m == "delivered"));
        Assert.Equal(["deleted", "delivered"], host.Messages());
    }

    [Fact]
    public void A_call_made_in_on_done_ends_with_its_stream_even_when_on_done_returns_false()
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

        var (first, fromOnDone) = (host.HttpCalloutCancellations.ElementAt(0), host.HttpCalloutCancellations.ElementAt(1));
        Assert.True(first.IsCancellationRequested);
        Assert.True(fromOnDone.IsCancellationRequested);
        callee.Answer(0);
        callee.Answer(1); // deliveries would run before Answer returns: none may
        Assert.Equal(["deleted"], host.Messages());
    }
}
