using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// An HTTP/1.1 server on a free loopback port that never answers: every request waits until the caller
/// gives up. <see cref="Started"/> tells when a request arrived, <see cref="Aborted"/> when its caller went away.
/// </summary>
internal sealed class HangingUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private HangingUpstream(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Aborted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static Task<HangingUpstream> StartAsync() => FreePort.RetryAsync(StartOnceAsync);

    private static async Task<HangingUpstream> StartOnceAsync()
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, o => o.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        var upstream = new HangingUpstream(app, port);
        app.Run(upstream.HandleAsync);
        try
        {
            await app.StartAsync();
        }
        catch (IOException)
        {
            await app.DisposeAsync();
            throw;
        }

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

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
