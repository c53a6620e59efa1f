using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using WasmOperator.Api.WasmPlugins;

namespace WasmOperator.Operator.Runtime.Events;

/// <summary>
/// Writes core/v1 Events about WasmPlugins (Normal or Warning, with a CamelCase reason). Like client-go's
/// EventCorrelator, an event the same as one recorded within <see cref="RepeatWindow"/> (same object, type, reason and
/// message) bumps that Event's count and lastTimestamp instead of creating another ("x3 over 2m" in kubectl describe).
/// </summary>
internal sealed partial class EventRecorder(IKubernetes client, string component, string instance, ILogger logger, TimeProvider? time = null)
{
    public const string Normal = "Normal";
    public const string Warning = "Warning";

    /// <summary>How long after its last occurrence a repeat still counts on the same Event (client-go: 10 minutes).</summary>
    public static readonly TimeSpan RepeatWindow = TimeSpan.FromMinutes(10);

    // client-go's LRU holds 4096; past that the oldest are not worth a scan, so the whole map is dropped.
    private const int MaxRemembered = 4096;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<EventKey, Recorded> _recorded = new();

    /// <summary>Records an event; a failure to write it is logged, never thrown (events are best effort).</summary>
    public async Task RecordAsync(WasmPlugin plugin, string type, string reason, string message, CancellationToken cancellationToken)
    {
        var meta = plugin.Metadata;
        if (meta?.Name is null || meta.Namespace is null)
        {
            return;
        }

        // Event timestamps are metav1.Time, whole seconds: firstTimestamp and lastTimestamp are truncated alike, so a
        // repeat in the same second does not get a lastTimestamp before its firstTimestamp.
        var exact = _time.GetUtcNow().UtcDateTime;
        var now = new DateTime(exact.Ticks - (exact.Ticks % TimeSpan.TicksPerSecond), DateTimeKind.Utc);
        message = message.Length > 1024 ? message[..1024] : message;
        var key = new EventKey(meta.Namespace, meta.Name, meta.Uid, type, reason, message);
        try
        {
            if (_recorded.TryGetValue(key, out var seen) && now - seen.Last < RepeatWindow)
            {
                var repeat = seen with { Count = seen.Count + 1, Last = now };
                if (await PatchAsync(meta.Namespace, repeat, cancellationToken).ConfigureAwait(false))
                {
                    _recorded[key] = repeat;
                    return;
                }
            }

            var name = await CreateAsync(meta, meta.Namespace, meta.Name, type, reason, message, now, cancellationToken).ConfigureAwait(false);
            if (_recorded.Count >= MaxRemembered)
            {
                _recorded.Clear();
            }

            _recorded[key] = new Recorded(name, 1, now);
        }
        catch (Exception ex) when (ex is HttpOperationException or HttpRequestException or IOException or System.Net.Sockets.SocketException)
        {
            LogEventFailed(logger, reason, meta.Namespace, meta.Name, ex.Message);
        }
    }

    /// <summary>Bumps the count of the Event recorded before; false when it is gone (expired by its TTL, deleted).</summary>
    private async Task<bool> PatchAsync(string @namespace, Recorded repeat, CancellationToken cancellationToken)
    {
        var patch = new JsonObject { ["count"] = repeat.Count, ["lastTimestamp"] = repeat.Last.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture) };
        try
        {
            await client.CoreV1.PatchNamespacedEventAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), repeat.Name, @namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    private async Task<string> CreateAsync(
        ObjectMeta meta, string @namespace, string objectName, string type, string reason, string message, DateTime now, CancellationToken cancellationToken)
    {
        var name = $"{objectName}.{Guid.NewGuid():N}"[..Math.Min(253, objectName.Length + 33)];
        var ev = new Corev1Event
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = @namespace },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = WasmPlugin.GroupVersion, Kind = WasmPlugin.KindName, Name = objectName, NamespaceProperty = @namespace,
                Uid = meta.Uid, ResourceVersion = meta.ResourceVersion,
            },
            Type = type,
            Reason = reason,
            Message = message,
            Source = new V1EventSource { Component = component },
            ReportingComponent = component,
            ReportingInstance = instance,
            FirstTimestamp = now,
            LastTimestamp = now,
            Count = 1,
        };
        await client.CoreV1.CreateNamespacedEventAsync(ev, @namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        return name;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record event {Reason} for {Namespace}/{Name}: {Error}")]
    private static partial void LogEventFailed(ILogger logger, string reason, string @namespace, string name, string error);

    private readonly record struct EventKey(string Namespace, string Name, string? Uid, string Type, string Reason, string Message);

    private sealed record Recorded(string Name, int Count, DateTime Last);
}
