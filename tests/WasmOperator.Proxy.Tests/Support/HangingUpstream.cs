using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// An HTTP/1.1 server on a free loopback port that never answers: every request waits until the caller
/// gives up. <see cref="Started"/> tells when a request arrived, <see cref="Aborted"/> when its caller went away.
/// </summary>
internal sealed class HangingUpstream : IAsyncDisposable
{
    private LoopbackApp? _app;

    public int Port => _app!.Port;

    public Uri Address => _app!.Address;

    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Aborted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<HangingUpstream> StartAsync()
    {
        var upstream = new HangingUpstream();
        upstream._app = await LoopbackApp.StartAsync(HttpProtocols.Http1, upstream.HandleAsync);
        return upstream;
    }

    private async Task HandleAsync(HttpContext context)
    {
        Started.TrySetResult();
        try
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            Aborted.TrySetResult();
        }
    }

    public ValueTask DisposeAsync() => _app?.DisposeAsync() ?? ValueTask.CompletedTask;
}
