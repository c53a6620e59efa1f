using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using WasmOperator.Api.WasmPlugins;

namespace WasmOperator.Operator.Runtime.Events;

/// <summary>Writes core/v1 Events about WasmPlugins (Normal or Warning, with a CamelCase reason).</summary>
internal sealed partial class EventRecorder(IKubernetes client, string component, string instance, ILogger logger, TimeProvider? time = null)
{
    public const string Normal = "Normal";
    public const string Warning = "Warning";
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Records an event; a failure to write it is logged, never thrown (events are best effort).</summary>
    public async Task RecordAsync(WasmPlugin plugin, string type, string reason, string message, CancellationToken cancellationToken)
    {
        var meta = plugin.Metadata;
        if (meta?.Name is null || meta.Namespace is null)
        {
            return;
        }

        var now = _time.GetUtcNow().UtcDateTime;
        var ev = new Corev1Event
        {
            Metadata = new V1ObjectMeta { Name = $"{meta.Name}.{Guid.NewGuid():N}"[..Math.Min(253, meta.Name.Length + 33)], NamespaceProperty = meta.Namespace },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = WasmPlugin.GroupVersion, Kind = WasmPlugin.KindName, Name = meta.Name, NamespaceProperty = meta.Namespace,
                Uid = meta.Uid, ResourceVersion = meta.ResourceVersion,
            },
            Type = type,
            Reason = reason,
            Message = message.Length > 1024 ? message[..1024] : message,
            Source = new V1EventSource { Component = component },
            ReportingComponent = component,
            ReportingInstance = instance,
            FirstTimestamp = now,
            LastTimestamp = now,
            Count = 1,
        };
        try
        {
            await client.CoreV1.CreateNamespacedEventAsync(ev, meta.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpOperationException or HttpRequestException or IOException or System.Net.Sockets.SocketException)
        {
            LogEventFailed(logger, reason, meta.Namespace, meta.Name, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record event {Reason} for {Namespace}/{Name}: {Error}")]
    private static partial void LogEventFailed(ILogger logger, string reason, string @namespace, string name, string error);
}
