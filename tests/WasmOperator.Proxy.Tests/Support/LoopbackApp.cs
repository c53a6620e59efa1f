using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>A test server: Kestrel on a free loopback port, one handler, no logging; started again on another port when the port was taken.</summary>
internal sealed class LoopbackApp : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LoopbackApp(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    /// <param name="kestrel">More Kestrel settings (limits, header encodings).</param>
    /// <param name="pipeline">Middleware before <paramref name="handle"/> (e.g. WebSockets).</param>
    public static Task<LoopbackApp> StartAsync(HttpProtocols protocols, RequestDelegate handle, Action<KestrelServerOptions>? kestrel = null, Action<WebApplication>? pipeline = null) =>
        FreePort.RetryAsync(async () =>
        {
            var port = FreePort.Next();
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
            builder.WebHost.ConfigureKestrel(k =>
            {
                kestrel?.Invoke(k);
                k.Listen(IPAddress.Loopback, port, o => o.Protocols = protocols);
            });
            var app = builder.Build();
            pipeline?.Invoke(app);
            app.Run(handle);
            try
            {
                await app.StartAsync();
            }
            catch (IOException)
            {
                await app.DisposeAsync();
                throw;
            }

            return new LoopbackApp(app, port);
        });

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
