using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// An HTTP/1.1 WebSocket server on a free loopback port that echoes every message until its peer closes.
/// <see cref="Ended"/> tells when a socket ended, closed or broken (the proxy gave up on it, say); <see cref="Received"/>
/// holds the text messages it got, as it got them.
/// </summary>
internal sealed class WebSocketUpstream : IAsyncDisposable
{
    private LoopbackApp? _app;

    public Uri Address => _app!.Address;

    public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ConcurrentQueue<string> Received { get; } = new();

    public static async Task<WebSocketUpstream> StartAsync()
    {
        var upstream = new WebSocketUpstream();
        upstream._app = await LoopbackApp.StartAsync(HttpProtocols.Http1, upstream.HandleAsync, pipeline: app => app.UseWebSockets());
        return upstream;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = new byte[1024];
        try
        {
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", context.RequestAborted);
                    return;
                }

                if (received.MessageType == WebSocketMessageType.Text)
                {
                    Received.Enqueue(Encoding.UTF8.GetString(buffer, 0, received.Count));
                }

                await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, context.RequestAborted);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // The peer went away without a close handshake.
        }
        finally
        {
            Ended.TrySetResult();
        }
    }

    public ValueTask DisposeAsync() => _app?.DisposeAsync() ?? ValueTask.CompletedTask;
}
