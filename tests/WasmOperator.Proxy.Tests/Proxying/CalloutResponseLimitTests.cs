using System.Buffers.Binary;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Proxying;
using WasmOperator.Proxy.Tests.Support;
using WasmOperator.ProxyWasm.Host;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A callout's response is read no further than <see cref="ProxyOptions.MaxCalloutResponseBytes"/> (Envoy's 32 MiB
/// async-client buffer limit): one byte more resets the call and the plugin gets a failed callout, logged with the
/// plugin, the cluster and the limit. Unbounded, a cluster with an endless body grew the proxy to gigabytes.
/// Fixture: callout_status_echo.wat ("failed" when no headers were delivered). The limit is lowered to 1 KiB here.
/// </summary>
public sealed class CalloutResponseLimitTests
{
    private const int Limit = 1024;

    [Fact]
    public async Task A_callout_body_over_the_limit_is_cut_off_while_it_is_read_and_the_plugin_gets_a_failed_callout()
    {
        // 64 MiB chunked unless the proxy closes first: reading stops at the limit, not at the end.
        var cutOff = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var cluster = new RawUpstream(async (_, stream) =>
        {
            var chunk = Encoding.ASCII.GetBytes("4000\r\n" + new string('a', 0x4000) + "\r\n");
            try
            {
                await stream.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"u8.ToArray());
                for (var i = 0; i < 4096; i++)
                {
                    await stream.WriteAsync(chunk);
                }

                await stream.WriteAsync("0\r\n\r\n"u8.ToArray());
            }
            catch (IOException)
            {
                cutOff.TrySetResult();
            }

            return false;
        });
        await using var proxy = await StartAsync(cluster.Address);

        var (response, _) = await proxy.GetAsync("/", ("x-no-timeout", "1"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("failed", await response.Content.ReadAsStringAsync());
        await cutOff.Task.WaitAsync(TimeSpan.FromSeconds(10));
        AssertLogged(proxy);
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/after")).Response.StatusCode);
    }

    [Fact]
    public async Task A_content_length_over_the_limit_fails_the_callout_before_the_body_is_read()
    {
        await using var cluster = new RawUpstream(RawUpstream.Fixed($"HTTP/1.1 200 OK\r\nContent-Length: {Limit + 1}\r\n\r\n" + new string('a', Limit + 1)));
        await using var proxy = await StartAsync(cluster.Address);

        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal("failed", await response.Content.ReadAsStringAsync());
        AssertLogged(proxy);
    }

    [Theory]
    [InlineData("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n{0}\r\n0\r\n\r\n", Limit)]
    [InlineData("GET", "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n{0}", Limit)]
    [InlineData("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", 0)]
    public async Task A_body_of_the_limit_and_a_head_answer_declaring_more_are_delivered(string method, string reply, int length)
    {
        await using var cluster = new RawUpstream(RawUpstream.Fixed(string.Format(System.Globalization.CultureInfo.InvariantCulture, reply, new string('a', Limit))));
        using var client = new CalloutClient(Options(cluster.Address));
        var headers = new HeaderMap();
        headers.Add(":method", method);
        headers.Add(":path", "/check");

        var response = await client.SendHttpAsync(new HttpCalloutRequest("callee", headers, [], new HeaderMap(0), TimeSpan.FromSeconds(10)), default);

        Assert.Equal("200", response.Headers.Get(":status"));
        Assert.Equal(length, response.Body.Length);
    }

    [Fact]
    public async Task A_grpc_response_over_the_limit_is_resource_exhausted_for_a_call_and_for_a_stream()
    {
        // One message declared (and sent) 4 KiB long: the unary call reads the whole body, the stream sees the prefix.
        await using var cluster = await LoopbackApp.StartAsync(HttpProtocols.Http2, async context =>
        {
            context.Response.ContentType = "application/grpc";
            var frame = new byte[5 + (4 * Limit)];
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), 4 * Limit);
            await context.Response.Body.WriteAsync(frame);
            context.Response.AppendTrailer("grpc-status", "0");
        });
        using var client = new CalloutClient(Options(cluster.Address));
        var tooLarge = 0;

        var call = await client.SendGrpcAsync(
            new GrpcCalloutRequest("callee", "test.Echo", "Unary", new HeaderMap(0), [], TimeSpan.FromSeconds(10)), default, _ => Interlocked.Increment(ref tooLarge));
        var events = new ClosedEvents();
        var stream = client.OpenGrpcStream(new GrpcStreamRequest("callee", "test.Echo", "Stream", new HeaderMap(0)), events, _ => Interlocked.Increment(ref tooLarge));
        stream.Send([1], endOfStream: true);
        var (status, message) = await events.Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(8, call.Status);
        Assert.Null(call.Message);
        Assert.Contains($"larger than {Limit} bytes", call.StatusMessage, StringComparison.Ordinal);
        Assert.Equal(8, status);
        Assert.Contains($"larger than {Limit} bytes", message, StringComparison.Ordinal);
        Assert.Equal(0, events.Messages);
        Assert.Equal(2, tooLarge);
    }

    private static ProxyOptions Options(Uri cluster)
    {
        var options = new ProxyOptions { MaxCalloutResponseBytes = Limit };
        options.Clusters["callee"] = cluster;
        return options;
    }

    private static Task<ProxyHarness> StartAsync(Uri cluster) =>
        ProxyHarness.StartAsync(Yaml(Plugin("caller", Wat("callout_status_echo"), "caller", "callee")), o =>
        {
            o.Clusters["callee"] = cluster;
            o.MaxCalloutResponseBytes = Limit;
        });

    private static void AssertLogged(ProxyHarness proxy) =>
        Assert.Contains(proxy.Logs.Lines, line => line.StartsWith("Warning ", StringComparison.Ordinal) && line.Contains(
            $"plugin default/caller: callout to cluster 'callee' reset: its response is larger than {Limit} bytes", StringComparison.Ordinal));

    private sealed class ClosedEvents : IGrpcStreamEvents
    {
        private int _messages;

        public TaskCompletionSource<(int Status, string Message)> Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Messages => Volatile.Read(ref _messages);

        public void OnInitialMetadata(HeaderMap metadata)
        {
        }

        public void OnMessage(byte[] message) => Interlocked.Increment(ref _messages);

        public void OnTrailingMetadata(HeaderMap metadata)
        {
        }

        public void OnClose(int status, string message) => Closed.TrySetResult((status, message));
    }
}
