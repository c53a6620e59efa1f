using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace WasmOperator.Proxy.Shutdown;

/// <summary>
/// One count of client connections across the data listeners (HTTP/1.1 and h2c), upgraded ones included, against
/// --max-connections (Envoy's global_downstream_max_connections). Kestrel's own limit counts each listener apart, so two
/// listeners held twice the connections the open-file limit has room for. A connection past the limit is closed as it
/// arrives; the refusals are logged at most once a second, with their count.
/// </summary>
internal sealed partial class ConnectionBudget(int? max)
{
    private int _open;
    private long _refused;
    private long _lastLogged;

    /// <summary>Set once the host is built; refusals before that are counted and logged with the next.</summary>
    public ILogger? Logger { get; set; }

    /// <summary>Client connections open now.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Kestrel connection middleware of a data listener.</summary>
    public ConnectionDelegate Admit(ConnectionDelegate next) => max is not { } limit ? next : async connection =>
    {
        if (Interlocked.Increment(ref _open) > limit)
        {
            Interlocked.Decrement(ref _open);
            Refuse();
            connection.Abort(new ConnectionAbortedException("--max-connections reached"));
            return;
        }

        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    };

    private void Refuse()
    {
        Interlocked.Increment(ref _refused);
        var now = Environment.TickCount64;
        var last = Volatile.Read(ref _lastLogged);
        if (Logger is { } logger && now - last >= 1000 && Interlocked.CompareExchange(ref _lastLogged, now, last) == last)
        {
            LogRefused(logger, Interlocked.Exchange(ref _refused, 0), max ?? 0);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "refused {Count} client connection(s): {Max} were open (--max-connections; the open-file limit decides its default)")]
    private static partial void LogRefused(ILogger logger, long count, int max);
}
