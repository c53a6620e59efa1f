using System.Collections.Concurrent;
using System.Net.Sockets;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// Keep-alive connections to one upstream endpoint (host:port). Idle connections are reused most
/// recently used first and dropped once idle longer than <see cref="IdleTimeout"/> or closed by the peer.
/// </summary>
internal sealed class Http1ConnectionPool(string host, int port, TimeSpan connectTimeout, TimeSpan idleTimeout, int maxIdle) : IDisposable
{
    private readonly ConcurrentStack<Http1Connection> _idle = new();
    private readonly ConcurrentDictionary<Http1Connection, byte> _open = new();
    private const long RecentlyUsedMs = 1000;
    private int _idleCount;
    private bool _disposed;

    public string Host { get; } = host;

    public int Port { get; } = port;

    public TimeSpan IdleTimeout { get; } = idleTimeout;

    public int IdleCount => Volatile.Read(ref _idleCount);

    /// <summary>A healthy idle connection, if there is one.</summary>
    public Http1Connection? TryRentIdle()
    {
        var now = Environment.TickCount64;
        while (_idle.TryPop(out var connection))
        {
            Interlocked.Decrement(ref _idleCount);
            // A connection back from its last request within the last second is taken as is (a stale one is still
            // caught: bodyless requests are retried); an older one is polled first, since an upstream closing idle
            // connections or restarting shows up exactly there.
            var idle = now - connection.IdleSince;
            if (idle <= (long)IdleTimeout.TotalMilliseconds && (idle < RecentlyUsedMs || connection.IsHealthyWhileIdle()))
            {
                return connection;
            }

            Close(connection);
        }

        return null;
    }

    /// <summary>Opens a new connection (Nagle off: request heads and bodies are written whole).</summary>
    public async ValueTask<Http1Connection> ConnectAsync(CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(connectTimeout);
            await socket.ConnectAsync(Host, Port, timeout.Token).ConfigureAwait(false);
            var connection = new Http1Connection(socket);
            _open.TryAdd(connection, 0);
            return connection;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Returns a connection whose last response was read completely; anything else is closed.</summary>
    public void Return(Http1Connection connection)
    {
        connection.Deadline = 0;
        if (!connection.KeepAlive || connection.BufferedCount != 0 || _disposed || Volatile.Read(ref _idleCount) >= maxIdle)
        {
            Close(connection);
            return;
        }

        connection.IdleSince = Environment.TickCount64;
        Interlocked.Increment(ref _idleCount);
        _idle.Push(connection);
    }

    /// <summary>Closes a connection and forgets it.</summary>
    public void Close(Http1Connection connection)
    {
        _open.TryRemove(connection, out _);
        connection.Dispose();
    }

    /// <summary>Aborts connections whose request made no progress by its deadline; returns how many.</summary>
    public int Sweep(long now)
    {
        var aborted = 0;
        foreach (var (connection, _) in _open)
        {
            var deadline = connection.Deadline;
            if (deadline != 0 && now > deadline)
            {
                _open.TryRemove(connection, out _);
                connection.Abort(timedOut: true);
                aborted++;
            }
        }

        return aborted;
    }

    public int OpenCount => _open.Count;

    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryPop(out var connection))
        {
            Close(connection);
        }
    }
}
