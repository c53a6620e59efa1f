using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Proxying;
using WasmOperator.Proxy.Tests.Support;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A callout's server that fails after it began to answer, or announces more than the proxy reads, as Envoy's async
/// client reports it: a gRPC stream reset after the response began is 13 (INTERNAL), not the 14 (UNAVAILABLE) of a server
/// that could not be reached, which plugins read as "retry" or "fail open"; a stream's error close comes after empty
/// trailing metadata (<c>AsyncStreamImpl::streamError</c>); a unary message whose prefix is over the limit fails when the
/// prefix arrives, not at the deadline; an HTTP response with two different Content-Length values is a protocol error.
/// </summary>
public sealed class CalloutResetTests
{
    private static readonly byte[] OneMessage = [0, 0, 0, 0, 3, (byte)'a', (byte)'b', (byte)'c'];

    private static GrpcCalloutRequest Unary(TimeSpan timeout) =>
        new(ProxyOptions.DefaultCluster, "test.Echo", "Unary", new HeaderMap(0), [], timeout);

    private static GrpcStreamRequest Stream() => new(ProxyOptions.DefaultCluster, "test.Echo", "Stream", new HeaderMap(0));

    [Fact]
    public async Task A_unary_grpc_call_reset_after_its_response_began_closes_with_internal()
    {
        using var client = new CalloutClient(new ProxyOptions(), new AnsweringHandler(() => new ScriptedBody(OneMessage[..6], reset: true)));

        var response = await client.SendGrpcAsync(Unary(TimeSpan.FromSeconds(10)), default);

        Assert.Equal(13, response.Status);
        Assert.Contains("was reset after the response began", response.StatusMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_unary_grpc_response_announcing_a_message_over_the_limit_fails_when_the_prefix_arrives()
    {
        // The server announces 2 GiB and sends nothing more: the call ended only at its deadline (4), or never without one.
        var options = new ProxyOptions { MaxCalloutResponseBytes = 1024 };
        using var client = new CalloutClient(options, new AnsweringHandler(() => new ScriptedBody([0, 0x7f, 0xff, 0xff, 0xff], reset: false)));
        CalloutResponseTooLargeException? reported = null;

        var response = await client.SendGrpcAsync(Unary(TimeSpan.FromSeconds(10)), default, ex => reported = ex);

        Assert.Equal(8, response.Status);
        Assert.NotNull(reported);
    }

    [Fact]
    public async Task A_grpc_stream_reset_after_its_response_began_gets_empty_trailing_metadata_then_internal()
    {
        using var client = new CalloutClient(new ProxyOptions(), new AnsweringHandler(() => new ScriptedBody(OneMessage, reset: true)));
        var events = new RecordedEvents();

        client.OpenGrpcStream(Stream(), events);

        Assert.Equal(["initial", "message abc", "trailing 0", "close 13"], await events.UntilClosedAsync());
    }

    [Fact]
    public async Task A_grpc_stream_that_fails_before_its_response_gets_empty_trailing_metadata_then_unavailable()
    {
        using var client = new CalloutClient(new ProxyOptions(), new FailingHandler());
        var events = new RecordedEvents();

        client.OpenGrpcStream(Stream(), events);

        Assert.Equal(["trailing 0", "close 14"], await events.UntilClosedAsync());
    }

    [Fact]
    public async Task An_http_callout_answered_with_two_different_content_lengths_gets_envoys_protocol_error_reply()
    {
        // HttpClient took the first value: the plugin got a 200 with the body cut to 2 bytes (an authorizer's "ok" of "okx").
        await using var cluster = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"));
        var options = new ProxyOptions();
        options.Clusters[ProxyOptions.DefaultCluster] = cluster.Address;
        using var client = new CalloutClient(options);
        var headers = new HeaderMap();
        headers.Add(":method", "GET");
        headers.Add(":path", "/check");

        var response = await client.SendHttpAsync(new HttpCalloutRequest(ProxyOptions.DefaultCluster, headers, [], new HeaderMap(0), TimeSpan.FromSeconds(10)), default);

        Assert.Equal("502", response.Headers.Get(":status"));
        Assert.Equal("upstream connect error or disconnect/reset before headers. reset reason: protocol error",
            System.Text.Encoding.UTF8.GetString(response.Body));
    }

    /// <summary>Answers every call with 200, application/grpc and the body <paramref name="body"/> makes.</summary>
    private sealed class AnsweringHandler(Func<Stream> body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var content = new StreamContent(body());
            content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = content, Version = HttpVersion.Version20 });
        }
    }

    private sealed class FailingHandler : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromException<HttpResponseMessage>(new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused"));
    }

    /// <summary>A response body that gives its bytes, then fails as a reset stream does, or waits until the read is cancelled.</summary>
    private sealed class ScriptedBody(byte[] bytes, bool reset) : Stream
    {
        private int _given;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_given < bytes.Length)
            {
                var count = Math.Min(buffer.Length, bytes.Length - _given);
                bytes.AsMemory(_given, count).CopyTo(buffer);
                _given += count;
                return count;
            }

            if (reset)
            {
                throw new IOException("The HTTP/2 server reset the stream. HTTP/2 error code 'INTERNAL_ERROR' (0x2).");
            }

            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class RecordedEvents : IGrpcStreamEvents
    {
        private readonly ConcurrentQueue<string> _seen = new();
        private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<string[]> UntilClosedAsync()
        {
            await _closed.Task.WaitAsync(TimeSpan.FromSeconds(30));
            return [.. _seen];
        }

        public void OnInitialMetadata(HeaderMap metadata) => _seen.Enqueue("initial");

        public void OnMessage(byte[] message) => _seen.Enqueue("message " + System.Text.Encoding.ASCII.GetString(message));

        public void OnTrailingMetadata(HeaderMap metadata) => _seen.Enqueue("trailing " + metadata.Count);

        public void OnClose(int status, string message)
        {
            _seen.Enqueue("close " + status);
            _closed.TrySetResult();
        }
    }
}
