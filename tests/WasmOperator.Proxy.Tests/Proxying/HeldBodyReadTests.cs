using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A plugin holding part of a body (StopIterationAndBuffer before its end) decides on it from a callout's answer: a
/// resume sends the held bytes on at once and a reply is sent at once, as Envoy's continueDecoding, continueEncoding and
/// sendLocalReply do, however long the peer waits before it sends more. In each test the peer sends more only after the
/// test saw the decision take effect (or gave up waiting for it).
/// </summary>
public sealed class HeldBodyReadTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_response_chunk_held_for_a_callout_reaches_the_client_when_the_callout_resumes_it(bool h2c)
    {
        var rest = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = new RawUpstream(async (_, stream) =>
        {
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"u8.ToArray());
            await rest.Task;
            await stream.WriteAsync("6\r\n world\r\n0\r\n\r\n"u8.ToArray());
            return true;
        });
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("hold", Wat("hold_response_chunk_for_callout"), "hold")),
            o =>
            {
                o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
                o.ShardsPerPlugin = 1;
                o.Http1Forwarder = !h2c; // h2c: through YARP (as to TLS clusters), the other forwarding path
            });

        try
        {
            using var timeout = new CancellationTokenSource(Patience);
            using var response = await (h2c ? proxy.H2c : proxy.Client).GetAsync("/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var body = await response.Content.ReadAsStreamAsync(timeout.Token);
            var first = await StreamText.ReadUntilAsync(body, "hello", timeout.Token);

            Assert.Equal("hello", first);
            Assert.Equal(1, proxy.Authorizer.Requests);
            rest.TrySetResult();
            using var end = new StreamReader(body);
            Assert.Equal(" world", await end.ReadToEndAsync(timeout.Token));
        }
        finally
        {
            rest.TrySetResult();
        }
    }

    [Fact]
    public async Task A_reply_from_a_callout_while_a_request_chunk_is_held_is_sent_without_waiting_for_the_next_chunk()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("hold", Wat("hold_request_chunk_for_callout"), "hold")), o => o.ShardsPerPlugin = 1);

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync("POST /up HTTP/1.1\r\nHost: a\r\nx-deny: 1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"u8.ToArray());
        using var timeout = new CancellationTokenSource(Patience);
        var answer = await StreamText.ReadUntilAsync(stream, "denied", timeout.Token);

        Assert.StartsWith("HTTP/1.1 403", answer, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\ndenied", answer, StringComparison.Ordinal);
        Assert.Equal(1, proxy.Authorizer.Requests);
        Assert.Equal(0, proxy.Upstream.Requests);
    }

    /// <summary>
    /// The held read of a Content-Length body is ended through Kestrel's reader, which leaves the rest drainable: the
    /// client sends the rest and its next request on the same connection, which is answered as usual. Ended through a
    /// cancelled token it was left "in progress": Kestrel's drain after the reply failed (logged as an error) and the
    /// connection was closed.
    /// </summary>
    [Fact]
    public async Task A_reply_from_a_callout_while_a_chunk_of_a_content_length_body_is_held_leaves_the_connection_to_the_next_request()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("hold", Wat("hold_request_chunk_for_callout"), "hold")), o => o.ShardsPerPlugin = 1);

        // A few requests: the callout may answer before the held read waits on the client (then nothing ends it).
        for (var i = 1; i <= 5; i++)
        {
            using var timeout = new CancellationTokenSource(Patience);
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
            var stream = client.GetStream();

            await stream.WriteAsync("POST /up HTTP/1.1\r\nHost: a\r\nx-deny: 1\r\nContent-Length: 10\r\n\r\nhello"u8.ToArray(), timeout.Token);
            var answer = await StreamText.ReadUntilAsync(stream, "denied", timeout.Token);
            Assert.StartsWith("HTTP/1.1 403", answer, StringComparison.Ordinal);
            await stream.WriteAsync("worldGET /next HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray(), timeout.Token);

            // The upstream's echo, chunked.
            var next = await StreamText.ReadUntilAsync(stream, "}\r\n0\r\n\r\n", timeout.Token);
            Assert.StartsWith("HTTP/1.1 200", next, StringComparison.Ordinal);
            Assert.Equal(i, proxy.Upstream.Requests);
        }

        Assert.DoesNotContain(proxy.Logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    public async Task A_request_chunk_held_for_a_callout_reaches_the_upstream_when_the_callout_resumes_it(string passedBefore)
    {
        // With a chunk before it, the held one comes while the request already streams upstream.
        var received = new StringBuilder();
        string Received()
        {
            lock (received)
            {
                return received.ToString();
            }
        }

        var sawHello = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await LoopbackApp.StartAsync(HttpProtocols.Http1, async context =>
        {
            var buffer = new byte[1024];
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
            {
                lock (received)
                {
                    received.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }

                if (Received().EndsWith("hello", StringComparison.Ordinal))
                {
                    sawHello.TrySetResult();
                }
            }

            var answer = Encoding.ASCII.GetBytes("got " + Received());
            context.Response.ContentLength = answer.Length;
            await context.Response.Body.WriteAsync(answer);
        });
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("hold", Wat("hold_request_chunk_for_callout"), "hold")),
            o =>
            {
                o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
                o.ShardsPerPlugin = 1;
            });

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
        if (passedBefore.Length > 0)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"{passedBefore.Length:x}\r\n{passedBefore}\r\n"));
            await ProxyHarness.EventuallyAsync(() => Task.FromResult(Received() == passedBefore), "the first chunk to reach the upstream");
        }

        await stream.WriteAsync("5\r\nhello\r\n"u8.ToArray());
        var released = await Task.WhenAny(sawHello.Task, Task.Delay(Patience));
        await stream.WriteAsync("0\r\n\r\n"u8.ToArray());
        using var timeout = new CancellationTokenSource(Patience);
        var answer = await StreamText.ReadUntilAsync(stream, "hello", timeout.Token);

        Assert.True(released == sawHello.Task, "the held chunk reached the upstream only after the client sent the next one");
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.EndsWith($"got {passedBefore}hello", answer, StringComparison.Ordinal);
        Assert.Equal(1, proxy.Authorizer.Requests);
    }
}
