using System.Runtime.CompilerServices;
using System.Text.Json;
using k8s;
using k8s.Models;
using WasmOperator.Api.Serialization;
using WasmOperator.Api.WasmPlugins;

namespace WasmOperator.Operator.Runtime.Reflection;

/// <summary>The resources the operator reflects: WasmPlugins, and Secrets reduced to what pull secrets need.</summary>
internal static class ListWatches
{
    private const int PageSize = 500;

    public static ListWatch<WasmPlugin> WasmPlugins(IKubernetes client) => new(
        WasmPlugin.Plural,
        async (ns, continueToken, ct) =>
        {
            using var response = ns is null
                ? await client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(
                    WasmPlugin.Group, WasmPlugin.Version, WasmPlugin.Plural, limit: PageSize, continueParameter: continueToken, cancellationToken: ct).ConfigureAwait(false)
                : await client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(
                    WasmPlugin.Group, WasmPlugin.Version, ns, WasmPlugin.Plural, limit: PageSize, continueParameter: continueToken, cancellationToken: ct).ConfigureAwait(false);
            var list = (JsonElement)response.Body;
            var items = new List<WasmPlugin>();
            foreach (var element in list.GetProperty("items").EnumerateArray())
            {
                if (element.Deserialize<WasmPlugin>(WasmPluginSerializer.Options) is { } plugin)
                {
                    items.Add(plugin);
                }
            }

            var meta = list.GetProperty("metadata");
            var version = meta.TryGetProperty("resourceVersion", out var rv) ? rv.GetString() : null;
            var next = meta.TryGetProperty("continue", out var c) && c.ValueKind == JsonValueKind.String && c.GetString() is { Length: > 0 } token ? token : null;
            return new ListPage<WasmPlugin>(items, version, next);
        },
        (ns, resourceVersion, timeoutSeconds, onError, ct) => WatchPluginsAsync(client, ns, resourceVersion, timeoutSeconds, onError, ct),
        p => new ItemMeta(p.Metadata?.Namespace, p.Metadata?.Name, p.Metadata?.ResourceVersion));

    /// <summary>Secrets, kept as name and data keys only: the operator reads a pull secret's content when it fetches.</summary>
    public static ListWatch<SecretSummary> Secrets(IKubernetes client) => new(
        "secrets",
        async (ns, continueToken, ct) =>
        {
            var list = ns is null
                ? await client.CoreV1.ListSecretForAllNamespacesAsync(limit: PageSize, continueParameter: continueToken, cancellationToken: ct).ConfigureAwait(false)
                : await client.CoreV1.ListNamespacedSecretAsync(ns, limit: PageSize, continueParameter: continueToken, cancellationToken: ct).ConfigureAwait(false);
            var items = new List<SecretSummary>(list.Items.Count);
            foreach (var secret in list.Items)
            {
                items.Add(SecretSummary.Of(secret));
            }

            return new ListPage<SecretSummary>(items, list.Metadata?.ResourceVersion, list.Metadata?.ContinueProperty is { Length: > 0 } next ? next : null);
        },
        (ns, resourceVersion, timeoutSeconds, onError, ct) => WatchSecretsAsync(client, ns, resourceVersion, timeoutSeconds, onError, ct),
        s => new ItemMeta(s.Namespace, s.Name, s.ResourceVersion));

    private static async IAsyncEnumerable<(WatchEventType, WasmPlugin)> WatchPluginsAsync(
        IKubernetes client, string? ns, string? resourceVersion, int timeoutSeconds, Action<Exception> onError, [EnumeratorCancellation] CancellationToken ct)
    {
        var events = ns is null
            ? client.CustomObjects.WatchListClusterCustomObjectAsync(
                WasmPlugin.Group, WasmPlugin.Version, WasmPlugin.Plural, allowWatchBookmarks: true, resourceVersion: resourceVersion,
                timeoutSeconds: timeoutSeconds, onError: onError, cancellationToken: ct)
            : client.CustomObjects.WatchListNamespacedCustomObjectAsync(
                WasmPlugin.Group, WasmPlugin.Version, ns, WasmPlugin.Plural, allowWatchBookmarks: true, resourceVersion: resourceVersion,
                timeoutSeconds: timeoutSeconds, onError: onError, cancellationToken: ct);
        await foreach (var (type, item) in events.ConfigureAwait(false))
        {
            if (item is JsonElement element && element.Deserialize<WasmPlugin>(WasmPluginSerializer.Options) is { } plugin)
            {
                yield return (type, plugin);
            }
        }
    }

    private static async IAsyncEnumerable<(WatchEventType, SecretSummary)> WatchSecretsAsync(
        IKubernetes client, string? ns, string? resourceVersion, int timeoutSeconds, Action<Exception> onError, [EnumeratorCancellation] CancellationToken ct)
    {
        var events = ns is null
            ? client.CoreV1.WatchListSecretForAllNamespacesAsync(
                allowWatchBookmarks: true, resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds, onError: onError, cancellationToken: ct)
            : client.CoreV1.WatchListNamespacedSecretAsync(
                ns, allowWatchBookmarks: true, resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds, onError: onError, cancellationToken: ct);
        await foreach (var (type, secret) in events.ConfigureAwait(false))
        {
            if (secret is not null)
            {
                yield return (type, SecretSummary.Of(secret));
            }
        }
    }
}
