using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// A gRPC-style server on raw h2c Kestrel (no protobuf: messages are bytes in the 5-byte gRPC frame).
/// <c>/test.Echo/*</c> answers each request message as soon as it arrives with <c>echo:&lt;message&gt;</c>
/// and ends with trailers <c>grpc-status: 0</c>, <c>grpc-message: ok</c>; <c>/test.Echo/Deny</c> ends
/// with status 7 "denied" after the first reply; <c>/test.Echo/Greet</c> sends <c>hello</c> before it reads
/// anything (a server-first stream); <c>/test.Echo/Abort</c> resets the stream on the second message, instead of replying;
/// <c>/test.Echo/Slow</c> never answers; <c>/test.Echo/Unauthenticated</c> answers status 16 at once, trailers-only, reading nothing; <c>/test.Echo/Refuse</c> resets the stream (REFUSED_STREAM) before any header;
/// <c>/test.Echo/RefuseOnce</c> does so to the first stream of each call (told apart by <c>x-call</c>), after reading its
/// first message when the call has <c>x-refuse-after: message</c>, and echoes on the next. <see cref="Reset"/>
/// tells when a caller reset a call.
/// </summary>
internal sealed class GrpcUpstream : IAsyncDisposable
{
    private LoopbackApp? _app;

    public int Port => _app!.Port;

    public Uri Address => _app!.Address;

    /// <summary>Request metadata the server saw, per call, in arrival order (<c>path</c>, then headers).</summary>
    public ConcurrentQueue<IReadOnlyDictionary<string, string>> Calls { get; } = new();

    /// <summary>Completes when a call on <c>/test.Echo/Slow</c> arrived.</summary>
    public TaskCompletionSource SlowStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when a stream on <c>/test.Echo/Slow</c> was reset by the caller.</summary>
    public TaskCompletionSource SlowCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The <c>x-call</c> of each call <c>/test.Echo/RefuseOnce</c> refused.</summary>
    public ConcurrentDictionary<string, bool> Refused { get; } = new(StringComparer.Ordinal);

    /// <summary>Completes when <c>/test.Echo/RefuseOnce</c> refused a stream.</summary>
    public TaskCompletionSource RefusedOne { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when any call was reset by the caller before it ended.</summary>
    public TaskCompletionSource Reset { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Starts the server; <paramref name="maxStreamsPerConnection"/> lowers Kestrel's limit of concurrent streams per connection (100).</summary>
    public static async Task<GrpcUpstream> StartAsync(int? maxStreamsPerConnection = null)
    {
        var upstream = new GrpcUpstream();
        upstream._app = await LoopbackApp.StartAsync(HttpProtocols.Http2, upstream.HandleAsync, k =>
        {
            if (maxStreamsPerConnection is { } limit)
            {
                k.Limits.Http2.MaxStreamsPerConnection = limit;
            }
        });
        return upstream;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var seen = new Dictionary<string, string>(StringComparer.Ordinal) { ["path"] = request.Path.Value ?? "" };
        foreach (var (name, values) in request.Headers)
        {
            seen[name.ToLowerInvariant()] = values.ToString();
        }

        Calls.Enqueue(seen);
        // As Grpc.AspNetCore does: a streaming call's client may send nothing for as long as it likes.
        context.Features.GetRequiredFeature<IHttpMinRequestBodyDataRateFeature>().MinDataRate = null;
        using var reset = context.RequestAborted.Register(() => Reset.TrySetResult());
        response.ContentType = "application/grpc";
        if (request.Path == "/test.Echo/Unauthenticated")
        {
            // A trailers-only answer before reading anything, as a server that fails a call at once does.
            response.Headers["grpc-status"] = "16";
            response.Headers["grpc-message"] = "no token";
            return;
        }

        if (request.Path == "/test.Echo/Slow")
        {
            SlowStarted.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                SlowCancelled.TrySetResult();
            }

            return;
        }

        if (request.Path == "/test.Echo/Refuse")
        {
            // RST_STREAM REFUSED_STREAM before any header, as a server at its stream limit answers (grpc-go does).
            context.Features.GetRequiredFeature<IHttpResetFeature>().Reset(7);
            return;
        }

        if (request.Path == "/test.Echo/RefuseOnce" && Refused.TryAdd(request.Headers["x-call"].ToString(), true))
        {
            if (request.Headers["x-refuse-after"] == "message")
            {
                var prefix = new byte[5];
                await request.Body.ReadExactlyAsync(prefix, context.RequestAborted);
                await request.Body.ReadExactlyAsync(new byte[BinaryPrimitives.ReadUInt32BigEndian(prefix.AsSpan(1))], context.RequestAborted);
            }

            context.Features.GetRequiredFeature<IHttpResetFeature>().Reset(7);
            RefusedOne.TrySetResult();
            return;
        }

        response.Headers["x-grpc-upstream"] = "yes";
        // The head goes now (StartAsync alone would leave it for the first body write).
        await response.StartAsync(context.RequestAborted);
        await response.Body.FlushAsync(context.RequestAborted);
        if (request.Path == "/test.Echo/FailMidResponse")
        {
            // One message, then RST_STREAM INTERNAL_ERROR: a server that crashes in the middle of its answer.
            await response.Body.WriteAsync(Frame("partial"), context.RequestAborted);
            await response.Body.FlushAsync(context.RequestAborted);
            context.Features.GetRequiredFeature<IHttpResetFeature>().Reset(2);
            return;
        }

        if (request.Path == "/test.Echo/Greet")
        {
            await response.Body.WriteAsync(Frame("hello"), context.RequestAborted);
            await response.Body.FlushAsync(context.RequestAborted);
        }

        var deny = request.Path == "/test.Echo/Deny";
        var pending = new List<byte>();
        var received = 0;
        var buffer = new byte[4096];
        while (true)
        {
            int read;
            try
            {
                read = await request.Body.ReadAsync(buffer, context.RequestAborted);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                return;
            }

            if (read == 0)
            {
                break;
            }

            pending.AddRange(buffer.AsSpan(0, read));
            while (pending.Count >= 5)
            {
                var length = (int)BinaryPrimitives.ReadUInt32BigEndian(pending.ToArray().AsSpan(1, 4));
                if (pending.Count < 5 + length)
                {
                    break;
                }

                var message = pending.GetRange(5, length).ToArray();
                pending.RemoveRange(0, 5 + length);
                if (request.Path == "/test.Echo/Abort" && ++received == 2)
                {
                    context.Abort();
                    return;
                }

                await response.Body.WriteAsync(Frame("echo:" + Encoding.UTF8.GetString(message)), context.RequestAborted);
                await response.Body.FlushAsync(context.RequestAborted);
                if (deny)
                {
                    response.AppendTrailer("grpc-status", "7");
                    response.AppendTrailer("grpc-message", "denied");
                    return;
                }
            }
        }

        if (context.Features.Get<IHttpRequestTrailersFeature>() is { Available: true } trailers)
        {
            foreach (var (name, values) in trailers.Trailers)
            {
                seen["trailer:" + name] = values.ToString();
            }
        }

        response.AppendTrailer("grpc-status", "0");
        response.AppendTrailer("grpc-message", "ok");
    }

    /// <summary>
    /// A call as a gRPC client makes it: HTTP/2 with prior knowledge, <c>application/grpc</c>, <c>te: trailers</c>, and
    /// <paramref name="content"/> (a <see cref="PipeContent"/> for a body the test writes to when it wants).
    /// </summary>
    public static HttpRequestMessage Call(string path, HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content, Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        return request;
    }

    /// <summary>A gRPC length-prefixed message (uncompressed).</summary>
    public static byte[] Frame(string message)
    {
        var payload = Encoding.UTF8.GetBytes(message);
        var frame = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(5));
        return frame;
    }

    /// <summary>The messages in a gRPC response body.</summary>
    public static List<string> Messages(byte[] body)
    {
        var messages = new List<string>();
        var offset = 0;
        while (offset + 5 <= body.Length)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(offset + 1, 4));
            messages.Add(Encoding.UTF8.GetString(body, offset + 5, length));
            offset += 5 + length;
        }

        return messages;
    }

    public ValueTask DisposeAsync() => _app?.DisposeAsync() ?? ValueTask.CompletedTask;
}
