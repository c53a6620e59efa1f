using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace WasmOperator.Proxy.Shutdown;

/// <summary>
/// Knows the open data-plane connections so that a drain can ask each to close: Kestrel then answers an HTTP/1.1
/// request in flight with <c>Connection: close</c> and closes an idle one, and sends GOAWAY on HTTP/2, while the
/// listener keeps accepting (Envoy's graceful drain). Connections accepted during the drain are asked per request.
/// </summary>
internal sealed class ConnectionDrainer
{
    private readonly ConcurrentDictionary<string, IConnectionLifetimeNotificationFeature> _open = new(StringComparer.Ordinal);

    /// <summary>Kestrel connection middleware (<c>ListenOptions.Use</c>): tracks the connection while it is open.</summary>
    public ConnectionDelegate Track(ConnectionDelegate next) => async connection =>
    {
        if (connection.Features.Get<IConnectionLifetimeNotificationFeature>() is not { } lifetime)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        _open[connection.ConnectionId] = lifetime;
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            _open.TryRemove(connection.ConnectionId, out _);
        }
    };

    public int OpenConnections => _open.Count;

    /// <summary>Asks every open connection to close once its requests are answered.</summary>
    public void RequestCloseAll()
    {
        foreach (var (_, lifetime) in _open)
        {
            lifetime.RequestClose();
        }
    }
}
