using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using WasmOperator.Proxy.Chain;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Metrics;

namespace WasmOperator.Proxy.Admin;

/// <summary>
/// The admin listener (/ready, /healthz, /config_dump, /logging, /stats/prometheus) and the status port, which answers
/// only what probes and scrapers read (/ready, /healthz, /healthz/ready, /stats/prometheus).
/// </summary>
internal sealed class AdminHandler(ChainManager chains, ProxyMetrics metrics, ServerState state, ProxyOptions options)
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public async Task HandleAsync(HttpContext context)
    {
        var response = context.Response;
        var path = context.Request.Path.Value;
        if (options.StatusPort != 0 && context.Connection.LocalPort == options.StatusPort && path is not ("/ready" or "/healthz" or "/healthz/ready" or "/stats/prometheus"))
        {
            response.StatusCode = 404;
            await response.WriteAsync($"status endpoints: /ready /healthz /healthz/ready /stats/prometheus (the rest of the admin API is on {options.AdminAddress}:{options.AdminPort})\n",
                context.RequestAborted).ConfigureAwait(false);
            return;
        }

        switch (path)
        {
            case "/healthz":
                await response.WriteAsync("ok\n", context.RequestAborted).ConfigureAwait(false);
                break;
            case "/ready" or "/healthz/ready":
                var notReady = NotReadyReason();
                response.StatusCode = notReady is null ? 200 : 503;
                await response.WriteAsync(notReady ?? "ready\n", context.RequestAborted).ConfigureAwait(false);
                break;
            case "/config_dump":
                response.ContentType = "application/json";
                await response.WriteAsync(JsonSerializer.Serialize(Dump(), Indented), context.RequestAborted).ConfigureAwait(false);
                break;
            case "/logging":
                await LoggingAsync(context).ConfigureAwait(false);
                break;
            case "/stats/prometheus":
                response.ContentType = "text/plain; version=0.0.4";
                await metrics.ExportAsync(response.Body, chains.Runtime.Metrics, context.RequestAborted).ConfigureAwait(false);
                break;
            default:
                response.StatusCode = 404;
                await response.WriteAsync("admin endpoints: /ready /healthz /config_dump /logging /stats/prometheus\n", context.RequestAborted).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>
    /// Envoy's <c>/logging</c> for the one log component plugins write to, <c>wasm</c>: <c>GET</c> shows its level,
    /// <c>POST /logging?wasm=debug</c> (or <c>?level=debug</c>, every component) changes it for every plugin at once,
    /// without a reload, as <c>istioctl proxy-config log --level wasm:debug</c> does on an Envoy sidecar.
    /// </summary>
    private async Task LoggingAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        if (HttpMethods.IsPost(request.Method))
        {
            var query = request.Query;
            var unknown = query.Keys.Where(k => k is not ("wasm" or "level")).ToList();
            var asked = query.TryGetValue("wasm", out var wasm) ? wasm.ToString() : query.TryGetValue("level", out var all) ? all.ToString() : null;
            if (unknown.Count > 0 || asked is null || !PluginLogLevels.TryParse(asked, out var level))
            {
                response.StatusCode = 400;
                await response.WriteAsync(
                    unknown.Count > 0 ? $"unknown log component '{unknown[0]}': the proxy has one, wasm (or level=, every component)\n"
                    : asked is null ? "usage: POST /logging?wasm=<level> (or ?level=<level>)\n"
                    : $"'{asked}' is not a log level ({PluginLogLevels.Names})\n", context.RequestAborted).ConfigureAwait(false);
                return;
            }

            chains.Runtime.PluginLogLevel = level;
        }
        else if (!HttpMethods.IsGet(request.Method))
        {
            response.StatusCode = 405;
            response.Headers.Allow = "GET, POST";
            return;
        }
        else if (request.QueryString.HasValue)
        {
            // A GET that asks for a change changed nothing and answered as if it had: Envoy requires POST for changes.
            response.StatusCode = 405;
            response.Headers.Allow = "POST";
            await response.WriteAsync(
                $"GET /logging only shows the levels and changed nothing: to change one, POST /logging{request.QueryString} (as Envoy's /logging requires)\n",
                context.RequestAborted).ConfigureAwait(false);
            return;
        }

        await response.WriteAsync($"active loggers:\n  wasm: {PluginLogLevels.Name(chains.Runtime.PluginLogLevel)}\n", context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Why the proxy should get no traffic, or null: draining, no set yet, or a plugin that would answer 503.</summary>
    private string? NotReadyReason()
    {
        if (state.Draining)
        {
            return "draining\n";
        }

        if (chains.Current is not { } chain)
        {
            return "no plugin set loaded yet\n";
        }

        StringBuilder? reasons = null;
        foreach (var entry in chain.Entries)
        {
            // As the exchange applies a failure: a plugin that did not load rejects what it selects unless it fails open.
            // Only one that selects every port takes the whole pod out of its Services: a plugin for one port should not
            // stop the others being served (/config_dump still lists its load error).
            if (entry.Plugin is null && !entry.LogOnly && entry.Spec.FailStrategy != FailStrategy.FAIL_OPEN &&
                (entry.Spec.Match.Count == 0 || entry.Spec.Match.Any(m => m.Ports.Count == 0)))
            {
                reasons ??= new StringBuilder();
                reasons.Append(CultureInfo.InvariantCulture, $"plugin {entry.Spec.Key} did not load and is {entry.Spec.FailStrategy}: the requests it selects get 503 ({entry.LoadError})\n");
            }
        }

        return reasons?.ToString();
    }

    /// <summary>A duration as the plugin file and the CRD write it (<c>250ms</c>).</summary>
    private static string Duration(TimeSpan duration) => duration.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture) + "ms";

    private object Dump()
    {
        var chain = chains.Current;
        var plugins = new List<object>();
        foreach (var entry in chain?.Entries ?? [])
        {
            var spec = entry.Spec;
            plugins.Add(new
            {
                name = spec.Name,
                @namespace = spec.Namespace,
                url = spec.Url,
                pluginName = spec.PluginName,
                revision = entry.Revision,
                moduleDigest = entry.Plugin?.Module.Digest,
                phase = spec.Phase.ToString(),
                priority = spec.Priority,
                failStrategy = spec.FailStrategy.ToString(),
                mode = spec.Mode.ToString(),
                state = entry.Plugin is null ? "Failed" : "Loaded",
                // When its VMs started; reused: an earlier set started them and this one kept them (and their state).
                loadedAt = entry.Loaded?.LoadedAt,
                reused = entry.Reused,
                loadError = entry.LoadError,
                shards = new { total = entry.Plugin?.Options.Shards ?? 0, healthy = entry.Plugin?.HealthyShards ?? 0, crashes = entry.Plugin?.CrashCount ?? 0 },
                sha256 = spec.Sha256,
                // As it runs: plugins with the same one share data and queues.
                vmId = spec.VmId ?? spec.Key,
                limits = new { maxMemoryBytes = spec.MaxMemoryBytes, maxCallDuration = Duration(spec.MaxCallDuration) },
                match = spec.Match.Select(m => new { mode = m.Mode, ports = m.Ports.Select(p => new { number = p }) }),
                warning = spec.UnmatchedTrafficMode(options.TrafficMode),
            });
        }

        var errors = new List<object>();
        foreach (var error in chains.Errors)
        {
            errors.Add(new { at = error.At, source = error.Source, reason = error.Reason });
        }

        var applied = chains.LastApplied;
        var rejected = chains.LastRejected;
        return new
        {
            chainRevision = chain?.Revision ?? 0,
            loadedAt = chain?.LoadedAt,
            inFlight = chain?.InFlight ?? 0,
            plugins,
            lastApplied = applied is null ? null : new { at = applied.At, source = applied.Source, revision = applied.Revision },
            lastRejected = rejected is null ? null : new { at = rejected.At, source = rejected.Source, reason = rejected.Reason, superseded = rejected.Superseded },
            loadErrors = errors,
        };
    }
}
