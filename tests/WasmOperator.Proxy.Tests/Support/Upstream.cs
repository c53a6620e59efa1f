using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// A real Kestrel upstream on a free loopback port (HTTP/1.1 and h2c). It echoes what it saw as JSON,
/// sets <c>x-upstream: yes</c> and <c>x-remove-me: 1</c>, answers /no-content with 204, and holds /slow until <see cref="ReleaseSlow"/>.
/// As an authorizer it answers every request 200 if <c>x-allow: yes</c>, else 403, and keeps what it was asked (<see cref="Received"/>).
/// </summary>
internal sealed class Upstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TaskCompletionSource _slowGate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentQueue<EchoReply> _received = new();
    private int _requests;

    private Upstream(WebApplication app, int port, bool authorizer)
    {
        _app = app;
        Port = port;
        _authorizer = authorizer;
    }

    private readonly bool _authorizer;

    public int Port { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>As an authorizer: each request it was asked, in arrival order.</summary>
    public IReadOnlyCollection<EchoReply> Received => _received;

    public TaskCompletionSource SlowStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ReleaseSlow() => _slowGate.TrySetResult();

    public static Task<Upstream> StartAsync(bool authorizer = false) => FreePort.RetryAsync(() => StartOnceAsync(authorizer));

    private static async Task<Upstream> StartOnceAsync(bool authorizer)
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, o => o.Protocols = HttpProtocols.Http1AndHttp2));
        var app = builder.Build();
        var upstream = new Upstream(app, port, authorizer);
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
        Interlocked.Increment(ref _requests);
        var request = context.Request;
        var response = context.Response;
        if (_authorizer)
        {
            _received.Enqueue(await SeenAsync(request));
            response.StatusCode = request.Headers["x-allow"] == "yes" ? 200 : 403;
            return;
        }

        if (request.Path == "/token")
        {
            await response.WriteAsync("secret-token");
            return;
        }

        if (request.Path == "/no-content")
        {
            response.StatusCode = 204;
            response.Headers["x-upstream"] = "yes";
            return;
        }

        if (request.Path == "/slow")
        {
            SlowStarted.TrySetResult();
            await _slowGate.Task;
        }

        var reply = await SeenAsync(request);
        response.Headers["x-upstream"] = "yes";
        response.Headers["x-remove-me"] = "1";
        response.ContentType = "application/json";
        await response.WriteAsync(JsonSerializer.Serialize(reply));
    }

    private static async Task<EchoReply> SeenAsync(HttpRequest request)
    {
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var headers = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var (name, values) in request.Headers)
        {
            headers[name.ToLowerInvariant()] = [.. values.Select(v => v ?? "")];
        }

        return new EchoReply(request.Method, request.Path + request.QueryString, request.Protocol, headers, body)
        {
            RawTarget = request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget,
        };
    }

    public async ValueTask DisposeAsync()
    {
        ReleaseSlow();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
