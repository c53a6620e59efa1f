using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WasmOperator.Proxy.Admin;
using WasmOperator.Proxy.Chain;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Forwarding;
using WasmOperator.Proxy.Logging;
using WasmOperator.Proxy.Metrics;
using WasmOperator.Proxy.Proxying;
using WasmOperator.Proxy.Shutdown;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy;

/// <summary>
/// The proxy process: Kestrel data listeners (HTTP/1.1, h2c) and an admin listener, each on its own port. The admin
/// listener is a server of its own so that it outlives the data listeners on shutdown and reports the drain.
/// </summary>
internal sealed partial class ProxyServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly WebApplication _admin;
    private readonly BatchedLineLoggerProvider _log;
    private readonly ServerState _state;
    private readonly ConnectionDrainer _connections;
    private readonly ILogger _logger;
    private readonly Lock _shutdownGate = new();
    private Task? _stopping;

    private ProxyServer(WebApplication app, WebApplication admin, ProxyOptions options, BatchedLineLoggerProvider log)
    {
        _app = app;
        _admin = admin;
        _log = log;
        Options = options;
        _state = app.Services.GetRequiredService<ServerState>();
        _connections = app.Services.GetRequiredService<ConnectionDrainer>();
        _logger = app.Services.GetRequiredService<ILogger<ProxyServer>>();
    }

    public ProxyOptions Options { get; }

    public ChainManager Chains => _app.Services.GetRequiredService<ChainManager>();

    public ProxyMetrics Metrics => _app.Services.GetRequiredService<ProxyMetrics>();

    /// <summary>Stand-alone mode's watcher of the plugin file; null otherwise.</summary>
    public PluginFileWatcher? PluginFile => _app.Services.GetService<PluginFileWatcher>();

    /// <summary>Builds and starts the proxy; in stand-alone mode the plugin file is applied before the listeners open.</summary>
    public static async Task<ProxyServer> StartAsync(ProxyOptions options, Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        var openFiles = OpenFileLimit.Raise();
        var maxConnections = options.MaxConnections ?? (openFiles is { } files ? OpenFileLimit.MaxConnectionsFor(files.After) : null);

        // One line per entry on stdout, written in batches off the request path (plugins may log on every request).
        var log = new BatchedLineLoggerProvider(Console.OpenStandardOutput());
        var binding = new StrongBox<bool>(true);
        ConfigureLogging(builder.Logging, log, logging, binding);
        var state = new ServerState();
        var connections = new ConnectionDrainer(state);
        builder.WebHost.UseSockets(o =>
        {
            o.UnsafePreferInlineScheduling = options.InlineIo;
            // Read straight into a buffer instead of a zero-byte read first: one syscall less per request.
            o.WaitForDataBeforeAllocatingBuffer = false;
        });

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // An h2 request's :scheme is taken as sent, as Envoy trusts it: a hop that ended TLS before this one keeps
            // https on h2c (Kestrel's default refused every such stream with a bare PROTOCOL_ERROR). Plugins read it as
            // request.scheme; x-forwarded-proto still says how the request reached this proxy.
            kestrel.AllowAlternateSchemes = true;
            // A proxy does not cap what it forwards (Envoy has no default either); bodies stream, and buffering
            // for plugins has its own limit (--max-body-bytes, 413).
            kestrel.Limits.MaxRequestBodySize = null;
            // Kestrel's minimum data rates stay on: they are what ends a client that stalls mid-body (a slowloris holding
            // a plugin's buffered body and stream context; 408). gRPC calls, whose streams may rightly stay quiet,
            // drop the request-body rate per call (ProxyHandler) and end by --stream-idle-timeout instead.
            // Header values pass through byte for byte, both ways (HeaderMap's remarks): obs-text and UTF-8 are
            // read one char per byte and written back the same, as Envoy forwards them; Kestrel's default
            // (UTF-8) would reject bytes that are not UTF-8 and re-encode the rest.
            kestrel.RequestHeaderEncodingSelector = static _ => System.Text.Encoding.Latin1;
            kestrel.ResponseHeaderEncodingSelector = static _ => System.Text.Encoding.Latin1;
            // Envoy's defaults where Kestrel's are stricter (ProxyOptions says what each turned away).
            ApplyRequestHeadLimit(kestrel.Limits, options.MaxRequestHeadersKb);
            kestrel.Limits.Http2.MaxStreamsPerConnection = options.MaxConcurrentStreams;
            kestrel.Limits.KeepAliveTimeout = options.IdleTimeout;
            // Past the open-file limit the process dies (OpenFileLimit); WebSockets and CONNECT are counted apart once upgraded.
            kestrel.Limits.MaxConcurrentConnections = maxConnections;
            kestrel.Limits.MaxConcurrentUpgradedConnections = maxConnections;
            kestrel.Listen(options.ListenAddress, options.Port, o => o.Protocols = HttpProtocols.Http1);
            if (options.H2cPort != 0)
            {
                kestrel.Listen(options.ListenAddress, options.H2cPort, o =>
                {
                    o.Protocols = HttpProtocols.Http2;
                    o.Use(connections.TrackHttp2);
                });
            }
        });

        // Stopping waits for in-flight requests until StopCoreAsync's deadline (--drain-timeout), then aborts them: its
        // own, so that it can say how many were cut.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = Timeout.InfiniteTimeSpan);
        builder.Services.AddSingleton<IHostLifetime, SignalLessLifetime>();
        builder.Services.AddSingleton(connections);
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(state);
        builder.Services.AddSingleton<ProxyMetrics>();
        if (maxConnections is { } max)
        {
            builder.Services.AddSingleton(sp => new ConnectionOverflow(sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<ProxyMetrics>().DownstreamOverflows, max,
                sp.GetRequiredService<ILogger<ConnectionOverflow>>()));
        }

        builder.Services.AddSingleton<CalloutClient>();
        builder.Services.AddSingleton(sp => new ProxyWasmRuntime(new ProxyWasmRuntimeOptions { PluginLogLevel = options.PluginLogLevel, Profiling = options.WasmProfiling }, sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton<ChainManager>();
        builder.Services.AddSingleton<LingeringContexts>();
        builder.Services.AddSingleton<ProxyHandler>();
        builder.Services.AddSingleton<AdminHandler>();
        if (options.PluginsFile is { } file)
        {
            builder.Services.AddSingleton(sp => new PluginFileWatcher(sp.GetRequiredService<ChainManager>(), file, options.PluginsFilePollInterval));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<PluginFileWatcher>());
        }

        var app = builder.Build();
        app.Services.GetRequiredService<ProxyMetrics>().ObserveLog(log);
        app.Services.GetRequiredService<ProxyMetrics>().ObserveDeferredBodies(app.Services.GetRequiredService<LingeringContexts>().DeferredBodies);
        // Listening from the start (the container disposes it with the host).
        app.Services.GetService<ConnectionOverflow>();
        LogConnectionLimit(app.Services.GetRequiredService<ILogger<ProxyServer>>(), openFiles?.After ?? -1, openFiles?.Before ?? -1, maxConnections ?? -1);
        var proxy = app.Services.GetRequiredService<ProxyHandler>();
        RequestDelegate handle = context =>
        {
            if (RequestTransferCoding.IsUnsupported(context.Request))
            {
                return RequestTransferCoding.RefuseAsync(context);
            }

            connections.OnRequest(context);
            return proxy.HandleAsync(context);
        };
        app.Run(options.WrapRequests?.Invoke(handle) ?? handle);
        var admin = BuildAdmin(options, log, logging, app.Services.GetRequiredService<AdminHandler>(), binding);

        try
        {
            // The admin and status listeners first, as Envoy's admin and Istio's 15021 are: while the first plugin set
            // compiles (seconds for a large module) probes get /healthz 200 and /ready 503, not a refused connection that a
            // liveness probe would take for a dead proxy.
            await admin.StartAsync(cancellationToken).ConfigureAwait(false);
            if (app.Services.GetService<PluginFileWatcher>() is { } watcher)
            {
                await watcher.ApplyInitialAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await app.Services.GetRequiredService<ChainManager>().ApplyAsync([], "startup", cancellationToken).ConfigureAwait(false);
            }

            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            binding.Value = false;
        }
        catch
        {
            // A port is taken, the address is not this host's, or startup was called off: release the VMs and whatever did
            // bind before reporting it.
            await admin.DisposeAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            log.Dispose();
            throw;
        }

        return new ProxyServer(app, admin, options, log);
    }

    /// <summary>
    /// Envoy's single limit on a request head (<c>max_request_headers_kb</c>) in Kestrel's terms, which bound its parts
    /// apart: the request line, the fields together, and one field over HTTP/2 (HPACK's) may each be as large. Kestrel
    /// buffers a head whole, so its request buffer grows to hold the largest one.
    /// </summary>
    private static void ApplyRequestHeadLimit(KestrelServerLimits limits, int kib)
    {
        var bytes = kib * 1024;
        limits.MaxRequestLineSize = bytes;
        limits.MaxRequestHeadersTotalSize = bytes;
        limits.Http2.MaxRequestHeaderFieldSize = bytes;
        if (limits.MaxRequestBufferSize is { } buffer && buffer < 2L * bytes)
        {
            limits.MaxRequestBufferSize = 2L * bytes;
        }
    }

    /// <param name="binding">True while the listeners bind: a port that cannot be bound is reported by the caller, in one
    /// line that says what to do (Program), so the host's own error for it, a stack trace of some 3 KB, is left out.</param>
    private static void ConfigureLogging(ILoggingBuilder builder, BatchedLineLoggerProvider log, Action<ILoggingBuilder>? logging, StrongBox<bool> binding)
    {
        builder.ClearProviders().AddProvider(log);
        // Plugin lines are filtered by the plugin log level alone (the runtime's, changed at /logging), not by a second
        // minimum here that would hide debug lines asked for.
        builder.AddFilter(PluginHost.LogCategory, LogLevel.Trace);
        builder.AddFilter("Microsoft", LogLevel.Warning).AddFilter("Yarp", LogLevel.Warning).AddFilter("System.Net.Http", LogLevel.Warning);
        // The proxy logs each forwarding failure itself, in one line, on either path (ProxyHandler), and a client that went
        // away is no failure of its own. YARP's warning for the same failure repeated it with a stack trace, and warned of
        // clients that reset or closed a WebSocket.
        builder.AddFilter("Yarp.ReverseProxy.Forwarder", LogLevel.Error);
        // Kestrel warns once per connection it closes past --max-connections; ConnectionOverflow counts them and logs once a second.
        builder.AddFilter("Microsoft.AspNetCore.Server.Kestrel.Connections", LogLevel.Error);

        // Hosting starts an Activity for every request whenever its logger is enabled at any level;
        // it only logs request start/finish (Information). Failures are logged by Kestrel and YARP.
        builder.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        builder.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", level => level >= LogLevel.Warning && (!binding.Value || level >= LogLevel.Critical));
        logging?.Invoke(builder);
    }

    private static WebApplication BuildAdmin(ProxyOptions options, BatchedLineLoggerProvider log, Action<ILoggingBuilder>? logging, AdminHandler handler, StrongBox<bool> binding)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        ConfigureLogging(builder.Logging, log, logging, binding);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // An h2 request's :scheme is taken as sent, as Envoy trusts it: a hop that ended TLS before this one keeps
            // https on h2c (Kestrel's default refused every such stream with a bare PROTOCOL_ERROR). Plugins read it as
            // request.scheme; x-forwarded-proto still says how the request reached this proxy.
            kestrel.AllowAlternateSchemes = true;
            kestrel.Listen(options.AdminAddress, options.AdminPort, o => o.Protocols = HttpProtocols.Http1);
            if (options.StatusPort != 0)
            {
                kestrel.Listen(options.ListenAddress, options.StatusPort, o => o.Protocols = HttpProtocols.Http1);
            }
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.Services.AddSingleton<IHostLifetime, SignalLessLifetime>();
        var admin = builder.Build();
        admin.Run(handler.HandleAsync);
        return admin;
    }

    /// <summary>
    /// Runs until SIGTERM, SIGINT or SIGQUIT, then shuts down gracefully (<see cref="ShutdownAsync"/>); a second
    /// signal ends the drain period early.
    /// </summary>
    public async Task RunAsync()
    {
        var signalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var skipDrain = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            if (!signalled.TrySetResult())
            {
                skipDrain.Cancel();
            }
        }

        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var quit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, OnSignal);
        await signalled.Task.ConfigureAwait(false);
        await ShutdownAsync(skipDrain.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// Envoy's graceful drain, as Istio runs it on SIGTERM: /ready answers 503 at once; the data listeners keep
    /// accepting for <see cref="ProxyOptions.DrainTime"/> (traffic still sent while the endpoint is being removed is
    /// served) while clients are asked to go elsewhere (GOAWAY, <c>Connection: close</c> on each HTTP/1.1 response;
    /// <see cref="ConnectionDrainer"/>); then <see cref="StopAsync"/>, which closes the connections left idle.
    /// Cancelling <paramref name="skipDrainPeriod"/> ends the drain period early.
    /// </summary>
    public async Task ShutdownAsync(CancellationToken skipDrainPeriod = default)
    {
        BeginDrain();
        LogDraining(_logger, Options.DrainTime.TotalSeconds, _connections.OpenHttp2Connections);
        try
        {
            await Task.Delay(Options.DrainTime, skipDrainPeriod).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await StopAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Stops accepting on the data listeners, closes the idle connections and waits for in-flight requests (up to
    /// <see cref="ProxyOptions.DrainTimeout"/>), then stops the admin listener, which reports the drain until then.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        lock (_shutdownGate)
        {
            return _stopping ??= StopCoreAsync(cancellationToken);
        }
    }

    private async Task StopCoreAsync(CancellationToken cancellationToken)
    {
        BeginDrain();
        LogStopping(_logger, _connections.InFlightRequests, Options.DrainTimeout.TotalSeconds);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var stopping = _app.StopAsync(deadline.Token);
        var cut = 0;
        if (await Task.WhenAny(stopping, Task.Delay(Options.DrainTimeout, deadline.Token)).ConfigureAwait(false) != stopping)
        {
            // Counted before Kestrel aborts them: afterwards they end (and leave the count) as they unwind.
            cut = _connections.InFlightRequests;
        }

        // Past the deadline, Kestrel aborts what is left; before it, this ends the deadline's timer.
        await deadline.CancelAsync().ConfigureAwait(false);
        await stopping.ConfigureAwait(false);
        if (cut > 0)
        {
            LogRequestsReset(_logger, cut, Options.DrainTimeout.TotalSeconds);
        }
        else
        {
            LogRequestsFinished(_logger);
        }

        // LOG_ONLY stream contexts still waiting on their plugin's decision (a callout slower than the drain): counted and
        // logged, not lost without a word.
        _app.Services.GetRequiredService<LingeringContexts>().DropAll();

        await _admin.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    private void BeginDrain()
    {
        _state.Draining = true;
        _connections.GoAwayAll();
    }

    public async ValueTask DisposeAsync()
    {
        await _admin.DisposeAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _log.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "shutting down: not ready; the listeners keep accepting for {DrainSeconds} s; {Http2Connections} HTTP/2 connection(s) got GOAWAY, HTTP/1.1 responses carry Connection: close")]
    private static partial void LogDraining(ILogger logger, double drainSeconds, int http2Connections);

    [LoggerMessage(Level = LogLevel.Information, Message = "stopping the data listeners; idle connections close, {InFlight} in-flight request(s) have {TimeoutSeconds} s to finish")]
    private static partial void LogStopping(ILogger logger, int inFlight, double timeoutSeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drain timeout: {Requests} request(s) still in flight after {TimeoutSeconds} s were reset (--drain-timeout)")]
    private static partial void LogRequestsReset(ILogger logger, int requests, double timeoutSeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "data listeners stopped: every in-flight request finished")]
    private static partial void LogRequestsFinished(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "open files: at most {OpenFiles} (soft limit was {Before}); client connections: at most {MaxConnections} at once on each data port (--max-connections; -1 = unknown, unlimited)")]
    private static partial void LogConnectionLimit(ILogger logger, long openFiles, long before, int maxConnections);
}
