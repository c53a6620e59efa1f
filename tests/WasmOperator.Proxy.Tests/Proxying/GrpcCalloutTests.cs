using System.Net;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>gRPC callouts from plugins (proxy_grpc_call, proxy_grpc_stream) to a real h2c server on a named cluster.</summary>
public sealed class GrpcCalloutTests
{
    /// <param name="upstream">The plugin configuration: the upstream the fixture passes, as YAML double-quoted text.</param>
    private static async Task<(GrpcUpstream Grpc, ProxyHarness Proxy)> StartAsync(string fixture, string upstream)
    {
        var grpc = await GrpcUpstream.StartAsync();
        var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("caller", Wat(fixture), "caller", upstream)), o => o.Clusters["grpc"] = grpc.Address);
        return (grpc, proxy);
    }

    private static async Task<string> AnswerAsync(ProxyHarness proxy, string method, params (string Name, string Value)[] headers)
    {
        var (response, _) = await proxy.GetAsync("/", [("x-method", method), .. headers]);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>
    /// A serialized <c>envoy.config.core.v3.GrpcService</c> { envoy_grpc { cluster_name, authority }, initial_metadata },
    /// as the C++ SDK passes it, escaped for YAML (every byte is below 0x80, so the configuration's UTF-8 is the bytes).
    /// </summary>
    private static string GrpcService(string cluster, string? authority = null, params (string Key, string Value)[] metadata)
    {
        static byte[] Field(int number, byte[] payload) => [(byte)((number << 3) | 2), (byte)payload.Length, .. payload];
        static byte[] Text(int number, string text) => Field(number, System.Text.Encoding.UTF8.GetBytes(text));

        byte[] envoyGrpc = authority is null ? Text(1, cluster) : [.. Text(1, cluster), .. Text(2, authority)];
        var bytes = new List<byte>(Field(1, envoyGrpc));
        foreach (var (key, value) in metadata)
        {
            bytes.AddRange(Field(5, [.. Text(1, key), .. Text(2, value)]));
        }

        return string.Concat(bytes.Select(b => $"\\x{b:x2}"));
    }

    [Fact]
    public async Task A_unary_call_answered_ok_delivers_only_its_message_to_the_plugin()
    {
        // Envoy (GrpcCallClientHandler): a unary call's success is proxy_on_grpc_receive alone; the fixture traps
        // on any metadata callback, as the Rust SDK does for a token that is not a stream's.
        var (grpc, proxy) = await StartAsync("grpc_unary_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("receive reply=echo:ping", await AnswerAsync(proxy, "Unary"));
            var call = Assert.Single(grpc.Calls);
            Assert.Equal("/test.Echo/Unary", call["path"]);
            Assert.Equal("application/grpc", call["content-type"]);
            Assert.Equal("trailers", call["te"]);
            // Envoy's Grpc::Common::prepareHeaders: the cluster name as :authority, the call's timeout as grpc-timeout.
            Assert.Equal("grpc", call["host"]);
            Assert.Equal("30000m", call["grpc-timeout"]);
        }
    }

    [Fact]
    public async Task A_unary_call_answered_with_an_error_delivers_only_the_close_with_the_status_from_the_trailers()
    {
        var (grpc, proxy) = await StartAsync("grpc_unary_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            // The server sent a message before status 7: a failed call's message is not delivered (Envoy onFailure).
            Assert.Equal("close status=7 message=denied", await AnswerAsync(proxy, "Deny"));
        }
    }

    [Fact]
    public async Task A_unary_call_to_an_unknown_cluster_name_is_refused_with_parse_failure_and_never_answered()
    {
        // Envoy Context::grpcCall: bytes that are not a GrpcService name a cluster; an unknown one is PARSE_FAILURE at once.
        var (grpc, proxy) = await StartAsync("grpc_unary_call", "nope");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("call-failed=4", await AnswerAsync(proxy, "Unary"));
            Assert.Empty(grpc.Calls);
        }
    }

    [Fact]
    public async Task A_unary_call_named_by_a_serialized_GrpcService_goes_to_its_cluster_with_its_authority_and_metadata()
    {
        var (grpc, proxy) = await StartAsync("grpc_unary_call", GrpcService("grpc", "echo.internal", ("x-tenant", "blue")));
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("receive reply=echo:ping", await AnswerAsync(proxy, "Unary"));
            var call = Assert.Single(grpc.Calls);
            Assert.Equal("/test.Echo/Unary", call["path"]);
            Assert.Equal("echo.internal", call["host"]);
            Assert.Equal("blue", call["x-tenant"]);
        }
    }

    [Fact]
    public async Task A_unary_call_named_by_a_GrpcService_with_an_unknown_cluster_fails_with_internal_failure_at_once()
    {
        // Envoy builds the client all the same (skip_cluster_check) and its send fails at once: sendRaw returns null.
        var (grpc, proxy) = await StartAsync("grpc_unary_call", GrpcService("nope"));
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("call-failed=10", await AnswerAsync(proxy, "Unary"));
            Assert.Empty(grpc.Calls);
        }
    }

    [Fact]
    public async Task A_unary_call_with_timeout_zero_has_no_deadline()
    {
        var (grpc, proxy) = await StartAsync("grpc_unary_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("receive reply=echo:ping", await AnswerAsync(proxy, "Unary", ("x-no-timeout", "1")));
            Assert.False(Assert.Single(grpc.Calls).ContainsKey("grpc-timeout"));

            using var gone = new CancellationTokenSource();
            using var slow = new HttpRequestMessage(HttpMethod.Get, "/");
            slow.Headers.TryAddWithoutValidation("x-method", "Slow");
            slow.Headers.TryAddWithoutValidation("x-no-timeout", "1");
            var call = proxy.Client.SendAsync(slow, gone.Token);
            await grpc.SlowStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
            // Longer than the 5 s the proxy used to put in place of 0.
            await Task.Delay(TimeSpan.FromSeconds(5.5));
            Assert.False(call.IsCompleted);
            Assert.False(grpc.SlowCancelled.Task.IsCompleted);
            await gone.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        }
    }

    [Fact]
    public async Task A_unary_call_past_its_timeout_closes_with_deadline_exceeded_and_resets_the_upstream_stream()
    {
        var (grpc, proxy) = await StartAsync("grpc_unary_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            // An answered call first, so the slow one goes on an open h2c connection to a warm upstream: as the first call
            // of a loaded run it once spent the 500 ms connecting, and the upstream never had a stream to be reset.
            Assert.Equal("receive reply=echo:ping", await AnswerAsync(proxy, "Unary"));

            var body = await AnswerAsync(proxy, "Slow", ("x-short-timeout", "1"));
            Assert.StartsWith("close status=4 message=", body, StringComparison.Ordinal);
            Assert.Contains("500 ms timeout", body, StringComparison.Ordinal);
            var reset = await Task.WhenAny(grpc.SlowCancelled.Task, Task.Delay(TimeSpan.FromSeconds(30))) == grpc.SlowCancelled.Task;
            Assert.True(reset, grpc.SlowStarted.Task.IsCompleted
                ? "the upstream had the call and its stream was not reset within 30 s"
                : "the call never reached the upstream within its 500 ms");
        }
    }

    [Fact]
    public async Task A_stream_sends_messages_as_they_come_and_receives_metadata_messages_trailers_and_close_in_order()
    {
        var (grpc, proxy) = await StartAsync("grpc_stream_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("initial;msg=echo:one;msg=echo:two;trailers;close=0 ok", await AnswerAsync(proxy, "Stream"));
            Assert.Equal("/test.Echo/Stream", Assert.Single(grpc.Calls)["path"]);
        }
    }

    [Fact]
    public async Task A_stream_the_server_ends_early_closes_with_its_status()
    {
        var (grpc, proxy) = await StartAsync("grpc_stream_call", "grpc");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("initial;msg=echo:one;trailers;close=7 denied", await AnswerAsync(proxy, "Deny"));
        }
    }

    [Fact]
    public async Task Cancelling_a_stream_resets_it_at_the_upstream()
    {
        var (grpc, proxy) = await StartAsync("grpc_stream_cancel", "grpc");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("cancelled", await AnswerAsync(proxy, "Stream"));
            // The plugin never half-closed: only the cancel (RST_STREAM) ends the call at the server.
            await grpc.Reset.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal("/test.Echo/Stream", Assert.Single(grpc.Calls)["path"]);
        }
    }

    [Fact]
    public async Task A_stream_to_an_unknown_cluster_name_is_refused_with_parse_failure_and_never_answered()
    {
        var (grpc, proxy) = await StartAsync("grpc_stream_call", "nope");
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("open-failed=4", await AnswerAsync(proxy, "Stream"));
            Assert.Empty(grpc.Calls);
        }
    }

    [Fact]
    public async Task A_stream_named_by_a_serialized_GrpcService_goes_to_its_cluster()
    {
        var (grpc, proxy) = await StartAsync("grpc_stream_call", GrpcService("grpc", metadata: ("x-tenant", "blue")));
        await using (grpc)
        await using (proxy)
        {
            Assert.Equal("initial;msg=echo:one;msg=echo:two;trailers;close=0 ok", await AnswerAsync(proxy, "Stream"));
            var call = Assert.Single(grpc.Calls);
            Assert.Equal("grpc", call["host"]);
            Assert.Equal("blue", call["x-tenant"]);
            Assert.False(call.ContainsKey("grpc-timeout")); // Envoy's streams have no timeout
        }
    }

    [Fact]
    public async Task A_stream_whose_messages_wait_for_the_upstream_beyond_the_limit_is_reset_and_closes_with_resource_exhausted()
    {
        const int Limit = 64 * 1024;
        await using var grpc = await GrpcUpstream.StartAsync();
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("caller", Wat("grpc_stream_flood"), "caller", "grpc")), o =>
        {
            o.Clusters["grpc"] = grpc.Address;
            o.MaxCalloutResponseBytes = Limit;
        });

        // The plugin sends 4 MiB at once and Slow reads none of it: HTTP/2 flow control lets the upstream take at most its
        // window (Kestrel's 768 KiB), so the rest waits in the proxy, which keeps no more than the limit.
        var body = await AnswerAsync(proxy, "Slow");

        Assert.StartsWith("close=8 ", body, StringComparison.Ordinal);
        Assert.Contains($"more than {Limit} bytes (--max-callout-response-bytes)", body, StringComparison.Ordinal);
        Assert.Contains(proxy.Logs.Lines, line => line.StartsWith("Warning ", StringComparison.Ordinal) && line.Contains(
            $"plugin default/caller: gRPC stream to cluster 'grpc' reset: the messages it sent and the cluster has not taken yet are more than {Limit} bytes", StringComparison.Ordinal));
    }
}
