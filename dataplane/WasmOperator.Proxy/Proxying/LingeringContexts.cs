using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// The LOG_ONLY stream contexts that outlive their request, waiting on the plugin's decision (<see cref="StreamHost.Linger"/>):
/// known here so that a shutdown that comes first counts and logs them (<see cref="DropAll"/>) instead of losing them
/// without a word. Touched only as a linger starts and ends, never per request.
/// </summary>
internal sealed partial class LingeringContexts(ILogger<LingeringContexts> log)
{
    /// <summary>What a context still waiting at shutdown is counted as in <c>wasm_plugin_log_only_actions_total</c>.</summary>
    public const string DroppedAtShutdown = "dropped_at_shutdown";

    private readonly ConcurrentDictionary<StreamHost, byte> _hosts = new();

    // Set once by DropAll: a context that would start to linger after it (its request still unwinding after the drain)
    // is dropped at once. The lock orders an Add against the closing, so each is either in the set DropAll walks or refused.
    private readonly Lock _closing = new();
    private bool _closed;

    /// <summary>The bytes of bodies kept for LOG_ONLY plugins' callbacks that wait on their decision, proxy-wide.</summary>
    public DeferredBodyBudget DeferredBodies { get; } = new();

    /// <summary>Keeps <paramref name="host"/> until it stops lingering; false once the proxy stopped (<see cref="DropLate"/>).</summary>
    public bool TryAdd(StreamHost host)
    {
        lock (_closing)
        {
            return !_closed && _hosts.TryAdd(host, 0);
        }
    }

    /// <summary>A context that would have started to linger after <see cref="DropAll"/>: counted and logged as those were.</summary>
    public void DropLate(StreamHost host)
    {
        host.Entry.Metrics.LogOnlyAction(DroppedAtShutdown).Inc();
        LogDropped(log, host.Entry.Spec.Key, 1, DroppedAtShutdown);
    }

    public void Remove(StreamHost host) => _hosts.TryRemove(host, out _);

    /// <summary>
    /// The proxy stops: each context still waiting is completed (on_done, on_log, on_delete) without its decision,
    /// counted as <see cref="DroppedAtShutdown"/>, and logged in one line per plugin with how many it had.
    /// </summary>
    public void DropAll()
    {
        lock (_closing)
        {
            _closed = true;
        }

        Dictionary<string, int>? dropped = null;
        foreach (var (host, _) in _hosts)
        {
            if (host.DropAtShutdown())
            {
                dropped ??= new Dictionary<string, int>(StringComparer.Ordinal);
                var plugin = host.Entry.Spec.Key;
                dropped[plugin] = dropped.GetValueOrDefault(plugin) + 1;
            }
        }

        if (dropped is null)
        {
            return;
        }

        foreach (var (plugin, count) in dropped)
        {
            LogDropped(log, plugin, count, DroppedAtShutdown);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "shutting down: LOG_ONLY plugin {Plugin} had {Count} stream(s) still waiting on its decision (a callout, say); dropped undecided and counted as {Action}")]
    private static partial void LogDropped(ILogger logger, string plugin, int count, string action);
}
