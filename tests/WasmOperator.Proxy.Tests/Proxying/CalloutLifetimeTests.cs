using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// Callouts belong to the plugin's root context, not to the request that made them (cpp-host <c>exports.cc</c> runs
/// <c>http_call</c>, <c>grpc_call</c> and <c>grpc_stream</c> on <c>context->root_context()</c>; Envoy's
/// <c>Context::~Context</c> cancels only what that context itself made): the end of a request, or its client going
/// away, does not cancel them, and their replies reach the root; the plugin's removal does. gRPC callouts to one
/// cluster are not limited to the concurrent streams of a single HTTP/2 connection.
/// </summary>
public sealed class CalloutLifetimeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    /// <summary>How audit_callouts logs an HTTP reply that reached root context 1 after its request was gone.</summary>
    private const string HttpReplyAfterTheRequest = "audit http to 1 status=200 effective=2 continue=0";

    /// <summary>
    /// The audit collector (HTTP/1.1): answers <c>/audit/log</c> at once and holds <c>/audit/request</c> until
    /// <c>/audit/log</c> came, which the plugin sends from on_log, when its request is over.
    /// </summary>
    private sealed class Collector : IAsyncDisposable
    {
        private LoopbackApp? _app;

        public Uri Address => _app!.Address;

        public TaskCompletionSource RequestArrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource RequestAnswered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource LogAnswered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public static async Task<Collector> StartAsync()
        {
            var collector = new Collector();
            collector._app = await LoopbackApp.StartAsync(HttpProtocols.Http1, collector.HandleAsync);
            return collector;
        }

        private async Task HandleAsync(HttpContext context)
        {
            if (context.Request.Path == "/audit/log")
            {
                await context.Response.WriteAsync("logged", context.RequestAborted);
                LogAnswered.TrySetResult();
                return;
            }

            RequestArrived.TrySetResult();
            try
            {
                await LogAnswered.Task.WaitAsync(context.RequestAborted);
                await context.Response.WriteAsync("noted", context.RequestAborted);
                RequestAnswered.TrySetResult();
            }
            catch (OperationCanceledException)
            {
                RequestAnswered.TrySetException(new InvalidOperationException("the proxy cancelled /audit/request"));
            }
        }

        public ValueTask DisposeAsync() => _app?.DisposeAsync() ?? ValueTask.CompletedTask;
    }

    private static Task<ProxyHarness> StartAsync(Collector collector, GrpcUpstream grpc) =>
        ProxyHarness.StartAsync(Yaml(Plugin("audit", Wat("audit_callouts"), "audit")), o =>
        {
            o.Clusters["collector"] = collector.Address;
            o.Clusters["grpc"] = grpc.Address;
        });

    private static async Task PluginLoggedAsync(ProxyHarness proxy, params string[] lines)
    {
        foreach (var line in lines.Distinct())
        {
            var expected = lines.Count(l => l == line);
            await ProxyHarness.EventuallyAsync(
                () => Task.FromResult(proxy.Logs.Lines.Count(l => l.EndsWith(": " + line, StringComparison.Ordinal)) >= expected),
                $"{expected} x '{line}' in the plugin's log");
        }
    }

    [Fact]
    public async Task Calls_made_in_on_log_and_one_the_request_did_not_wait_for_are_answered_to_the_root_after_the_request()
    {
        await using var collector = await Collector.StartAsync();
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await StartAsync(collector, grpc);

        var (response, _) = await proxy.GetAsync("/orders");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await collector.RequestAnswered.Task.WaitAsync(Bound);
        await collector.LogAnswered.Task.WaitAsync(Bound);
        await PluginLoggedAsync(proxy, HttpReplyAfterTheRequest, HttpReplyAfterTheRequest,
            "audit unary receive echo:log",
            "audit stream initial", "audit stream receive echo:log", "audit stream trailing", "audit stream close 0");
        Assert.Equal(["/test.Echo/Stream", "/test.Echo/Unary"], grpc.Calls.Select(c => c["path"]).Order());
    }

    [Fact]
    public async Task An_http_callout_outlives_the_client_that_went_away_and_its_reply_reaches_the_root()
    {
        // This was cancelled with the request before; Envoy keeps it (see the class summary).
        await using var collector = await Collector.StartAsync();
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await StartAsync(collector, grpc);
        using var gone = new CancellationTokenSource();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.TryAddWithoutValidation("x-wait", "1"); // the plugin pauses the request until the reply

        var send = proxy.Client.SendAsync(request, gone.Token);
        await collector.RequestArrived.Task.WaitAsync(Bound);
        await gone.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
        await collector.RequestAnswered.Task.WaitAsync(Bound);
        // The reply finds its request gone: resuming it is a no-op, and the proxy goes on serving.
        await PluginLoggedAsync(proxy, HttpReplyAfterTheRequest, HttpReplyAfterTheRequest);
        var (next, _) = await proxy.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    [Fact]
    public async Task A_grpc_stream_callout_is_reset_at_the_upstream_when_its_plugin_is_removed()
    {
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("caller", Wat("grpc_stream_call"), "caller", "grpc")), o => o.Clusters["grpc"] = grpc.Address);
        using var gone = new CancellationTokenSource();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.TryAddWithoutValidation("x-method", "Slow");
        var send = proxy.Client.SendAsync(request, gone.Token);
        await grpc.SlowStarted.Task.WaitAsync(Bound);
        await gone.CancelAsync(); // ends the request, not the stream: that is the root context's
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);

        await proxy.WritePluginsAsync(Yaml());

        // The plugin's VMs end with its root contexts once no request uses them, and so do their callouts.
        await grpc.SlowCancelled.Task.WaitAsync(Bound);
    }

    [Fact]
    public async Task A_grpc_callout_beyond_the_upstreams_stream_limit_opens_another_connection()
    {
        // The upstream allows one stream per connection: a second call must not wait for the first to end.
        await using var grpc = await GrpcUpstream.StartAsync(maxStreamsPerConnection: 1);
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("caller", Wat("grpc_stream_call"), "caller", "grpc")),
            o => { o.Clusters["grpc"] = grpc.Address; o.PauseTimeout = TimeSpan.FromSeconds(5); });
        using var stalled = new CancellationTokenSource();
        using var slow = new HttpRequestMessage(HttpMethod.Get, "/");
        slow.Headers.TryAddWithoutValidation("x-method", "Slow");
        var pending = proxy.Client.SendAsync(slow, stalled.Token);
        await grpc.SlowStarted.Task.WaitAsync(Bound);

        var (response, _) = await proxy.GetAsync("/", ("x-method", "Stream")).WaitAsync(Bound);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("initial;msg=echo:one;msg=echo:two;trailers;close=0 ok", await response.Content.ReadAsStringAsync());
        // Not by taking the slot of the stalled call once that ended (its pause timeout answers 503).
        Assert.False(pending.IsCompleted);
        await stalled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
    }
}
