using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WasmOperator.Proxy.Admin;
using WasmOperator.Proxy.Chain;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Logging;
using WasmOperator.Proxy.Metrics;
using WasmOperator.Proxy.Proxying;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy;

/// <summary>The proxy process: Kestrel data listeners (HTTP/1.1, h2c) and an admin listener, each on its own port.</summary>
internal sealed class ProxyServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly BatchedLineLoggerProvider _log;

    private ProxyServer(WebApplication app, ProxyOptions options, BatchedLineLoggerProvider log)
    {
        _app = app;
        _log = log;
        Options = options;
    }

    public ProxyOptions Options { get; }

    public ChainManager Chains => _app.Services.GetRequiredService<ChainManager>();

    public ProxyMetrics Metrics => _app.Services.GetRequiredService<ProxyMetrics>();

    /// <summary>Builds and starts the proxy; in stand-alone mode the plugin file is applied before the listeners open.</summary>
    public static async Task<ProxyServer> StartAsync(ProxyOptions options, Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });

        // One line per entry on stdout, written in batches off the request path (plugins may log on every request).
        var log = new BatchedLineLoggerProvider(Console.OpenStandardOutput());
        builder.Logging.ClearProviders().AddProvider(log);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning).AddFilter("Yarp", LogLevel.Warning).AddFilter("System.Net.Http", LogLevel.Warning);

        // Hosting starts an Activity for every request whenever its logger is enabled at any level;
        // it only logs request start/finish (Information). Failures are logged by Kestrel and YARP.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        logging?.Invoke(builder.Logging);
        builder.WebHost.UseSockets(o =>
        {
            o.UnsafePreferInlineScheduling = options.InlineIo;
            // Read straight into a buffer instead of a zero-byte read first: one syscall less per request.
            o.WaitForDataBeforeAllocatingBuffer = false;
        });

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // A proxy does not cap what it forwards (Envoy has no default either); bodies stream, and buffering
            // for plugins has its own limit (--max-body-bytes, 413).
            kestrel.Limits.MaxRequestBodySize = null;
            // Header values pass through byte for byte, both ways (HeaderMap's remarks): obs-text and UTF-8 are
            // read one char per byte and written back the same, as Envoy forwards them; Kestrel's default
            // (UTF-8) would reject bytes that are not UTF-8 and re-encode the rest.
            kestrel.RequestHeaderEncodingSelector = static _ => System.Text.Encoding.Latin1;
            kestrel.ResponseHeaderEncodingSelector = static _ => System.Text.Encoding.Latin1;
            kestrel.Listen(options.ListenAddress, options.Port, o => o.Protocols = HttpProtocols.Http1);
            if (options.H2cPort != 0)
            {
                kestrel.Listen(options.ListenAddress, options.H2cPort, o => o.Protocols = HttpProtocols.Http2);
            }

            kestrel.Listen(options.ListenAddress, options.AdminPort, o => o.Protocols = HttpProtocols.Http1);
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainTimeout);
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<ServerState>();
        builder.Services.AddSingleton<ProxyMetrics>();
        builder.Services.AddSingleton<CalloutClient>();
        builder.Services.AddSingleton(sp => new ProxyWasmRuntime(new ProxyWasmRuntimeOptions(), sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton<ChainManager>();
        builder.Services.AddSingleton<ProxyHandler>();
        builder.Services.AddSingleton<AdminHandler>();
        if (options.PluginsFile is { } file)
        {
            builder.Services.AddSingleton(sp => new PluginFileWatcher(sp.GetRequiredService<ChainManager>(), file, options.PluginsFilePollInterval));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<PluginFileWatcher>());
        }

        var app = builder.Build();
        app.Services.GetRequiredService<ProxyMetrics>().ObserveLog(log);
        var proxy = app.Services.GetRequiredService<ProxyHandler>();
        var admin = app.Services.GetRequiredService<AdminHandler>();
        var state = app.Services.GetRequiredService<ServerState>();
        var adminPort = options.AdminPort;
        app.Run(context => context.Connection.LocalPort == adminPort ? admin.HandleAsync(context) : proxy.HandleAsync(context));
        app.Lifetime.ApplicationStopping.Register(() => state.Draining = true);

        if (app.Services.GetService<PluginFileWatcher>() is { } watcher)
        {
            await watcher.ApplyInitialAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await app.Services.GetRequiredService<ChainManager>().ApplyAsync([], "startup", cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // A port is taken: release the VMs and whatever did bind before reporting it.
            await app.DisposeAsync().ConfigureAwait(false);
            log.Dispose();
            throw;
        }

        return new ProxyServer(app, options, log);
    }

    /// <summary>Runs until the process is asked to stop.</summary>
    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    /// <summary>Stops accepting, drains in-flight requests (up to the drain timeout), then stops.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync().ConfigureAwait(false);
        _log.Dispose();
    }
}
