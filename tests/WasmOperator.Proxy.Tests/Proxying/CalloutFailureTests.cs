using System.Net;
using System.Net.Sockets;
using WasmOperator.Proxy.Proxying;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// HTTP callouts (proxy_http_call) fail as Envoy's do: an unknown cluster is BadArgument at once and never
/// answered, a cluster with as many callouts in flight as it may have is InternalFailure at once and never
/// answered; a refused connection or a timeout is the router's local reply (503 / 504, text/plain),
/// delivered to on_http_call_response as a real response. Fixture: callout_status_echo.wat.
/// </summary>
public sealed class CalloutFailureTests
{
    private static Task<ProxyHarness> StartAsync(string cluster, Action<ProxyOptions>? configure = null) =>
        ProxyHarness.StartAsync(Yaml(Plugin("caller", Wat("callout_status_echo"), "caller", cluster)), configure);

    [Fact]
    public async Task A_callout_to_an_unknown_cluster_returns_bad_argument_and_the_request_continues_without_a_response()
    {
        await using var proxy = await StartAsync("nope");
        var (response, echo) = await proxy.GetAsync("/first");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(echo is not null, response + "\n" + await response.Content.ReadAsStringAsync());
        Assert.Equal("/first", echo.Path);
        Assert.Equal("2", Assert.Single(response.Headers.GetValues("x-call-status")));

        // No on_http_call_response ever follows (today's failure would arrive within milliseconds).
        await Task.Delay(300);
        (response, echo) = await proxy.GetAsync("/second");
        Assert.Equal("/second", echo?.Path);
        Assert.Equal("2", Assert.Single(response.Headers.GetValues("x-call-status")));
        Assert.Equal("0", Assert.Single(response.Headers.GetValues("x-deliveries")));
    }

    [Fact]
    public async Task A_callout_with_a_relative_path_returns_bad_argument_and_a_warning_says_why()
    {
        // Refused as before (it would go after the cluster's address), but it was refused in silence: the plugin saw its
        // callout fail and the log said nothing.
        await using var proxy = await StartAsync(ProxyOptions.DefaultCluster);
        var (response, echo) = await proxy.GetAsync("/first", ("x-relative-path", "1"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("/first", echo?.Path);
        Assert.Equal("2", Assert.Single(response.Headers.GetValues("x-call-status")));
        Assert.True(proxy.Logs.Contains("plugin default/caller: HTTP callout to cluster 'upstream' refused: :path: request target 'slow' does not start with '/'"),
            "log: " + string.Join(" | ", proxy.Logs.Lines));
    }

    [Fact]
    public async Task A_callout_to_a_cluster_nobody_listens_on_delivers_envoys_503_local_reply()
    {
        var dead = FreePort.Next();
        await using var proxy = await StartAsync("dead", o => o.Clusters["dead"] = new Uri($"http://127.0.0.1:{dead}"));
        var (response, _) = await proxy.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            "status=503 content-type=text/plain body=upstream connect error or disconnect/reset before headers. " +
            "reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused",
            await response.Content.ReadAsStringAsync());
        // Answered, so no longer in flight: the cluster's place is given back.
        Assert.Contains("proxy_callouts_active{cluster=\"dead\"} 0\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_callout_whose_connect_does_not_complete_is_cut_at_the_proxys_connect_timeout()
    {
        // --connect-timeout 1 s, the callout's own timeout 3 s: the connect timeout ends it first. Callouts had a fixed 5 s
        // connect timeout, so the callout's timeout came first (504 upstream request timeout).
        using var unaccepted = new FullBacklogListener();
        await using var proxy = await StartAsync("unaccepted", o =>
        {
            o.Clusters["unaccepted"] = unaccepted.Address;
            o.ConnectTimeout = TimeSpan.FromSeconds(1);
        });
        var (response, _) = await proxy.GetAsync("/", ("x-mid-timeout", "1"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("status=503 content-type=text/plain body=upstream connect error or disconnect/reset before headers. reset reason: connection timeout",
            await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_callout_that_times_out_before_the_response_delivers_envoys_504_local_reply()
    {
        await using var proxy = await StartAsync(ProxyOptions.DefaultCluster);
        var started = DateTime.UtcNow;
        var (response, _) = await proxy.GetAsync("/", ("x-short-timeout", "1"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("status=504 content-type=text/plain body=upstream request timeout", await response.Content.ReadAsStringAsync());
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(150), "the 200 ms timeout was not waited for");
    }

    [Fact]
    public async Task A_callout_timeout_of_zero_means_no_timeout()
    {
        await using var proxy = await StartAsync(ProxyOptions.DefaultCluster);
        var call = proxy.GetAsync("/", ("x-no-timeout", "1"));

        // Longer than the 5 s the proxy used to put in place of 0.
        await proxy.Upstream.SlowStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromSeconds(5.5));
        Assert.False(call.IsCompleted);

        proxy.Upstream.ReleaseSlow();
        var (response, _) = await call;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("status=200 content-type=application/json body={", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_local_response_with_a_grpc_status_outside_0_to_16_is_treated_as_no_grpc_status()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("deny", Wat("callout_local_grpc_status"), "deny")));

        // A plain request: the plugin's HTTP status and body.
        var (plain, _) = await proxy.GetAsync("/");
        Assert.Equal(HttpStatusCode.Forbidden, plain.StatusCode);
        Assert.Equal("denied", await plain.Content.ReadAsStringAsync());

        // A gRPC request: grpc_status 17 is not a status (Envoy: only 0..16 are), so grpc-status is mapped
        // from the HTTP status, 403 -> 7 (PERMISSION_DENIED), exactly as for -1.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/test.Echo/Unary")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        using var grpc = await proxy.H2c.SendAsync(request);
        await grpc.Content.ReadAsByteArrayAsync();
        Assert.Equal(HttpStatusCode.OK, grpc.StatusCode);
        var status = grpc.Headers.TryGetValues("grpc-status", out var values) ? values : grpc.TrailingHeaders.GetValues("grpc-status");
        Assert.Equal("7", Assert.Single(status));
        Assert.Equal(0, proxy.Upstream.Requests);
    }

    [Fact]
    public async Task A_grpc_callout_whose_authority_is_no_host_name_is_refused_and_holds_no_place_in_its_cluster()
    {
        var options = new ProxyOptions { MaxCalloutsPerCluster = 1 };
        var upstream = new HeldHandler();
        using var client = new CalloutClient(options, upstream);

        // More refusals than the cluster has places: each must give its place back (it took one before and kept it).
        for (var i = 0; i < 3; i++)
        {
            var stream = Assert.Throws<CalloutRefusedException>(() => client.OpenGrpcStream(
                new GrpcStreamRequest(ProxyOptions.DefaultCluster, "test.Echo", "Stream", new HeaderMap(0)) { Authority = "a b" }, new IgnoredEvents()));
            var call = Assert.Throws<CalloutRefusedException>(() => { _ = client.SendGrpcAsync(
                new GrpcCalloutRequest(ProxyOptions.DefaultCluster, "test.Echo", "Unary", new HeaderMap(0), [], TimeSpan.FromSeconds(5)) { Authority = "a b" }, default); });
            Assert.All([stream, call], refused => Assert.Equal(CalloutRefusal.InvalidRequest, refused.Reason));
            Assert.Equal("gRPC authority 'a b' is not a host name", stream.Message);
        }

        var held = client.SendHttpAsync(Get(), default);
        upstream.Release();
        Assert.Equal("200", (await held).Headers.Get(":status"));
    }

    [Fact]
    public async Task Callouts_beyond_what_a_cluster_may_have_in_flight_are_refused_at_once()
    {
        // Envoy's circuit breaker: a cluster full of calls fails the next one at once rather than queueing it (a plugin
        // firing thousands of calls at a cluster that never answers took every file descriptor of the proxy).
        var options = new ProxyOptions { MaxCalloutsPerCluster = 2 };
        var upstream = new HeldHandler();
        using var client = new CalloutClient(options, upstream);
        var first = client.SendHttpAsync(Get(), default);
        var second = client.SendHttpAsync(Get(), default);

        // Thrown by the call itself, before any task: the plugin's hostcall fails at once.
        var http = Assert.Throws<CalloutRefusedException>(() => { _ = client.SendHttpAsync(Get(), default); });
        var grpc = Assert.Throws<CalloutRefusedException>(() => { _ = client.SendGrpcAsync(
            new GrpcCalloutRequest(ProxyOptions.DefaultCluster, "test.Echo", "Unary", new HeaderMap(0), [], TimeSpan.FromSeconds(5)), default); });
        var stream = Assert.Throws<CalloutRefusedException>(() => client.OpenGrpcStream(
            new GrpcStreamRequest(ProxyOptions.DefaultCluster, "test.Echo", "Stream", new HeaderMap(0)), new IgnoredEvents()));

        Assert.All([http, grpc, stream], refused => Assert.Equal(CalloutRefusal.Overflow, refused.Reason));
        Assert.Contains("overflow", http.Message, StringComparison.Ordinal);
        Assert.Equal(2, upstream.Calls);

        // Finished calls give their places back.
        upstream.Release();
        Assert.Equal("200", (await first).Headers.Get(":status"));
        Assert.Equal("200", (await second).Headers.Get(":status"));
        Assert.Equal("200", (await client.SendHttpAsync(Get(), default)).Headers.Get(":status"));
    }

    [Fact]
    public async Task A_callout_refused_by_its_clusters_limit_answers_internal_failure_is_never_answered_and_is_counted_and_logged()
    {
        // Envoy: the overflowing send fails inside httpCall (AsyncClient::send returns null): INTERNAL_FAILURE, no callback.
        await using var callee = await HangingUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("caller", Wat("callout_status_echo"), "caller", "callee")), o =>
        {
            o.Clusters["callee"] = callee.Address;
            o.MaxCalloutsPerCluster = 1;
            o.ShardsPerPlugin = 1;
        });
        using var gone = new CancellationTokenSource();
        using var holding = new HttpRequestMessage(HttpMethod.Get, "/");
        holding.Headers.TryAddWithoutValidation("x-no-timeout", "1");
        var held = proxy.Client.SendAsync(holding, gone.Token);
        await callee.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var (response, echo) = await proxy.GetAsync("/refused");

        Assert.Equal("/refused", echo?.Path);
        Assert.Equal("10", Assert.Single(response.Headers.GetValues("x-call-status")));
        Assert.Equal("0", Assert.Single(response.Headers.GetValues("x-deliveries")));
        // Counted and said, as Envoy's upstream_rq_pending_overflow: the plugin alone knew (an authorizer's deny, say).
        Assert.Contains("proxy_callout_overflow_total{cluster=\"callee\"} 1\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
        Assert.Contains(proxy.Logs.Lines, l => l.Contains("plugin callouts to cluster callee refused: 1 already in flight", StringComparison.Ordinal));
        // The held callout shows as active (Envoy's upstream_rq_active), the refused one never counted.
        Assert.Contains("proxy_callouts_active{cluster=\"callee\"} 1\n", await proxy.MetricsAsync(), StringComparison.Ordinal);
        await gone.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => held);
    }

    private sealed class IgnoredEvents : IGrpcStreamEvents
    {
        public void OnInitialMetadata(HeaderMap metadata)
        {
        }

        public void OnMessage(byte[] message)
        {
        }

        public void OnTrailingMetadata(HeaderMap metadata)
        {
        }

        public void OnClose(int status, string message)
        {
        }
    }

    private static HttpCalloutRequest Get()
    {
        var headers = new HeaderMap();
        headers.Add(":method", "GET");
        headers.Add(":path", "/check");
        return new HttpCalloutRequest(ProxyOptions.DefaultCluster, headers, [], new HeaderMap(0), TimeSpan.Zero);
    }

    /// <summary>Answers 200 to every request once released; counts the requests that reached it.</summary>
    private sealed class HeldHandler : HttpMessageHandler
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public void Release() => _released.TrySetResult();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            await _released.Task.WaitAsync(cancellationToken);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
        }
    }

    [Fact]
    public async Task A_bare_socket_error_before_the_headers_is_the_same_503_local_reply()
    {
        // HttpClient lets a SocketException through unwrapped when a connection is reset right after it was accepted
        // (its RemoteEndPoint lookup fails with ENOTCONN); it must not fault the callout.
        var options = new ProxyOptions();
        using var client = new CalloutClient(options, new ThrowingHandler(new SocketException((int)SocketError.NotConnected)));
        var headers = new HeaderMap();
        headers.Add(":method", "GET");
        headers.Add(":path", "/check");

        var response = await client.SendHttpAsync(
            new HttpCalloutRequest(ProxyOptions.DefaultCluster, headers, [], new HeaderMap(0), TimeSpan.FromSeconds(1)), default);
        var grpc = await client.SendGrpcAsync(
            new GrpcCalloutRequest(ProxyOptions.DefaultCluster, "test.Echo", "Unary", new HeaderMap(0), [], TimeSpan.FromSeconds(1)), default);

        Assert.Equal("503", response.Headers.Get(":status"));
        Assert.StartsWith("upstream connect error or disconnect/reset before headers. reset reason: remote connection failure",
            System.Text.Encoding.UTF8.GetString(response.Body), StringComparison.Ordinal);
        Assert.Equal(14, grpc.Status);
    }

    private sealed class ThrowingHandler(Exception error) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromException<HttpResponseMessage>(error);
    }
}
