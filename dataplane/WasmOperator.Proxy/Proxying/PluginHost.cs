using Microsoft.Extensions.Logging;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Metrics;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// The proxy side of one plugin: HTTP and gRPC (unary and streaming) callouts to named clusters, node properties, the
/// plugin's log, and its VMs' failures and rebuilds counted in its metrics.
/// </summary>
internal sealed partial class PluginHost(string plugin, ProxyOptions options, CalloutClient callouts, PluginMetrics metrics, ILogger log) : IPluginHost
{
    /// <summary>The logger category of plugin log lines ("wasm log ns.name: …").</summary>
    public const string LogCategory = "WasmOperator.Proxy.Plugin";

    // Built on the first node read (a race builds it twice, to the same value).
    private NodeProperties? _node;

    // A plugin's callout mistakes repeat on every request: at most one warning a second, with the count of the others.
    private readonly Chain.LogThrottle _calloutWarnings = new(TimeSpan.FromSeconds(1));
    private Action<CalloutResponseTooLargeException>? _tooLarge;

    public Task<HttpCalloutResponse> SendHttpCalloutAsync(HttpCalloutRequest request, CancellationToken cancellationToken)
    {
        try
        {
            return LoggedAsync(callouts.SendHttpAsync(request, cancellationToken));
        }
        catch (CalloutRefusedException ex) when (ex.Reason == CalloutRefusal.InvalidRequest)
        {
            // The plugin's mistake, made the same way every time: BAD_ARGUMENT alone would not say what was wrong.
            if (CalloutWarning() is { } more)
            {
                LogCalloutRefused(log, plugin, request.Upstream, ex.Message + more);
            }

            throw;
        }
    }

    /// <summary>
    /// A callout the proxy could not even send is logged as a warning: it fails every time, and to the plugin it looks
    /// like an upstream failure. Upstream failures (refused, reset, timed out) are the plugin's to report, as in Envoy,
    /// and refusals (unknown cluster, overflow) are answered to the hostcall and logged at debug.
    /// </summary>
    private async Task<HttpCalloutResponse> LoggedAsync(Task<HttpCalloutResponse> callout)
    {
        try
        {
            return await callout.ConfigureAwait(false);
        }
        catch (CalloutNotSentException ex)
        {
            if (CalloutWarning() is { } more)
            {
                LogCalloutNotSent(log, plugin, ex.Cluster, ex.Message + more);
            }

            throw;
        }
        catch (CalloutResponseTooLargeException ex)
        {
            LogTooLarge(ex);
            throw;
        }
    }

    private void LogTooLarge(CalloutResponseTooLargeException ex)
    {
        if (CalloutWarning() is { } more)
        {
            if (ex.Sending)
            {
                LogStreamBacklogTooLarge(log, plugin, ex.Cluster, ex.Limit, more);
            }
            else
            {
                LogCalloutTooLarge(log, plugin, ex.Cluster, ex.Limit, more);
            }
        }
    }

    /// <summary>Null when a callout warning of this plugin was written less than a second ago; else what to add to this one.</summary>
    private string? CalloutWarning() =>
        !_calloutWarnings.TryEnter(out var suppressed) ? null
        : suppressed == 0 ? ""
        : $" ({suppressed} more callout warning(s) of this plugin in the last second, not logged)";

    // One delegate for all of this plugin's gRPC callouts.
    private Action<CalloutResponseTooLargeException> TooLarge => _tooLarge ??= LogTooLarge;

    public Task<GrpcCalloutResponse> SendGrpcCalloutAsync(GrpcCalloutRequest request, CancellationToken cancellationToken) =>
        callouts.SendGrpcAsync(request, cancellationToken, TooLarge);

    public IGrpcStream? OpenGrpcStream(GrpcStreamRequest request, IGrpcStreamEvents events) =>
        callouts.OpenGrpcStream(request, events, TooLarge);

    /// <summary>
    /// The plugin-level attributes, read in any context (on_configure, on_tick, a stream's callbacks): <c>node</c> and
    /// below it (<see cref="NodeProperties"/>), also as <c>xds.node</c>; <c>listener_direction</c> and
    /// <c>listener_metadata</c>, also under <c>xds.</c>.
    /// </summary>
    public bool TryGetProperty(string path, out byte[] value)
    {
        var node = path.StartsWith("xds.node", StringComparison.Ordinal) ? path["xds.".Length..] : path;
        if (node == "node" || node.StartsWith("node.", StringComparison.Ordinal))
        {
            return Node.TryGet(node, out value);
        }

        switch (path)
        {
            case "listener_direction" or "xds.listener_direction":
                // Envoy's TrafficDirection enum as an Int64 (1 INBOUND, 2 OUTBOUND), as Istio's plugins read it.
                value = PropertyValues.Int64(options.TrafficMode == "CLIENT" ? 2 : 1);
                return true;
            case "listener_metadata" or "xds.listener_metadata":
                // The listener's envoy.config.core.v3.Metadata: this proxy's listeners have none, an empty message.
                value = [];
                return true;
            default:
                value = [];
                return false;
        }
    }

    private NodeProperties Node => _node ??= new NodeProperties(options);

    /// <summary>Every failure of the plugin's VMs, whichever callback failed, once (the requests it failed count in fail_open/fail_closed).</summary>
    public void OnVmFailed(PluginFailure failure) => metrics.Traps.Inc();

    public void OnVmRebuilt() => metrics.Rebuilds.Inc();

    public void Log(ProxyLogLevel level, string message)
    {
        var logLevel = level switch
        {
            ProxyLogLevel.Trace => LogLevel.Trace,
            ProxyLogLevel.Debug => LogLevel.Debug,
            ProxyLogLevel.Info => LogLevel.Information,
            ProxyLogLevel.Warn => LogLevel.Warning,
            ProxyLogLevel.Error => LogLevel.Error,
            _ => LogLevel.Critical,
        };
        if (log.IsEnabled(logLevel))
        {
#pragma warning disable CA1848, CA2254 // Plugin log lines are not on a fixed template.
            log.Log(logLevel, "wasm log {Plugin}: {Message}", plugin, message);
#pragma warning restore CA1848, CA2254
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "plugin {Plugin}: HTTP callout to cluster '{Cluster}' not sent: {Reason}; the plugin got a failed callout (no response). Fix the headers the plugin gives proxy_http_call")]
    private static partial void LogCalloutNotSent(ILogger logger, string plugin, string cluster, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "plugin {Plugin}: HTTP callout to cluster '{Cluster}' refused: {Reason}; proxy_http_call answered BAD_ARGUMENT")]
    private static partial void LogCalloutRefused(ILogger logger, string plugin, string cluster, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "plugin {Plugin}: callout to cluster '{Cluster}' reset: its response is larger than {Limit} bytes (--max-callout-response-bytes); the plugin got a failed callout{More}")]
    private static partial void LogCalloutTooLarge(ILogger logger, string plugin, string cluster, int limit, string more);

    [LoggerMessage(Level = LogLevel.Warning, Message = "plugin {Plugin}: gRPC stream to cluster '{Cluster}' reset: the messages it sent and the cluster has not taken yet are more than {Limit} bytes (--max-callout-response-bytes); the stream closed with 8 (RESOURCE_EXHAUSTED){More}")]
    private static partial void LogStreamBacklogTooLarge(ILogger logger, string plugin, string cluster, int limit, string more);
}
