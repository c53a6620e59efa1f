using System.Text;
using Microsoft.Extensions.Logging;
using WasmOperator.Proxy.Configuration;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Proxy.Proxying;

/// <summary>The proxy side of one plugin: HTTP and gRPC (unary and streaming) callouts to named clusters, node properties, the plugin's log.</summary>
internal sealed class PluginHost(string plugin, ProxyOptions options, CalloutClient callouts, ILogger log) : IPluginHost
{
    /// <summary>The logger category of plugin log lines ("wasm log ns.name: …").</summary>
    public const string LogCategory = "WasmOperator.Proxy.Plugin";

    public Task<HttpCalloutResponse> SendHttpCalloutAsync(HttpCalloutRequest request, CancellationToken cancellationToken) =>
        callouts.SendHttpAsync(request, cancellationToken);

    public Task<GrpcCalloutResponse> SendGrpcCalloutAsync(GrpcCalloutRequest request, CancellationToken cancellationToken) =>
        callouts.SendGrpcAsync(request, cancellationToken);

    public IGrpcStream? OpenGrpcStream(GrpcStreamRequest request, IGrpcStreamEvents events) =>
        callouts.OpenGrpcStream(request, events);

    public bool TryGetProperty(string path, out byte[] value)
    {
        const string metadata = "node.metadata.";
        if (path.StartsWith(metadata, StringComparison.Ordinal) && options.NodeMetadata.TryGetValue(path[metadata.Length..], out var label))
        {
            value = Encoding.UTF8.GetBytes(label);
            return true;
        }

        if (path == "listener_direction")
        {
            // Envoy's TrafficDirection enum as an 8-byte integer (1 INBOUND, 2 OUTBOUND), as Istio's plugins read it.
            value = new byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(value, options.TrafficMode == "CLIENT" ? 2 : 1);
            return true;
        }

        string? text = path switch
        {
            "node.id" => options.NodeId,
            _ => null,
        };
        value = text is null ? [] : Encoding.UTF8.GetBytes(text);
        return text is not null;
    }

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
}
