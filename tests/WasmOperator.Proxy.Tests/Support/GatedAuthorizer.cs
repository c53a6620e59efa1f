using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>A callout target (cluster authz): answers with its status once the test opens it, and not before.</summary>
internal sealed class GatedAuthorizer : IAsyncDisposable
{
    private TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _asked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private LoopbackApp? _app;

    public Uri Address => _app!.Address;

    /// <summary>A callout came (since the last <see cref="Renew"/>).</summary>
    public TaskCompletionSource Asked => Volatile.Read(ref _asked);

    public void Open() => Volatile.Read(ref _open).TrySetResult();

    /// <summary>Closed again, for the next request's callout (one answered already stays answered).</summary>
    public void Renew()
    {
        Volatile.Write(ref _asked, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        Volatile.Write(ref _open, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }

    /// <param name="status">What it answers once open: 200 allows, 403 denies (the auth example's authorizer).</param>
    public static async Task<GatedAuthorizer> StartAsync(int status = StatusCodes.Status200OK)
    {
        var authorizer = new GatedAuthorizer();
        authorizer._app = await LoopbackApp.StartAsync(HttpProtocols.Http1AndHttp2, async context =>
        {
            authorizer.Asked.TrySetResult();
            await Volatile.Read(ref authorizer._open).Task.WaitAsync(context.RequestAborted);
            context.Response.StatusCode = status;
        });
        return authorizer;
    }

    public ValueTask DisposeAsync()
    {
        Open();
        return _app?.DisposeAsync() ?? ValueTask.CompletedTask;
    }
}
