using System.Collections.Concurrent;
using System.Net.Sockets;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// Keep-alive connections to one upstream endpoint (host:port). Idle connections are reused most
/// recently used first and dropped once idle longer than <see cref="IdleTimeout"/> or closed by the peer.
/// </summary>
/// <remarks>
/// With <paramref name="threadAffinity"/> (socket completions inline on the event threads) idle
/// connections are kept in one lane per event thread, like Envoy's per-worker connection pools: a
/// request handled on a thread takes a connection whose socket completes on that same thread, so the
/// whole exchange runs on one core without a cross-thread handoff. A thread with no idle connection of
/// its own takes one of unknown home, else one homed elsewhere when the pool is nearly idle (so light
/// traffic keeps reusing one connection) or from a lane with more than a few to spare; else a new
/// connection is opened. Like Envoy's, the upstream may so see up to a few more connections per thread.
/// <paramref name="maxIdle"/> bounds each lane (each Envoy worker keeps its own connections): a request touches only its
/// own lane's count, never one all threads share (each such count cost a cache-line transfer between cores per request).
/// </remarks>
internal sealed class Http1ConnectionPool(string host, int port, TimeSpan connectTimeout, TimeSpan idleTimeout, int maxIdle, bool threadAffinity = false) : IDisposable
{
    /// <summary>
    /// With this many requests in flight or more, a thread takes connections homed on another thread only from a
    /// lane holding more than this many idle ones (below it, any idle connection is reused).
    /// </summary>
    internal const int StealAbove = 4;
    private readonly Lane _unknown = new();
    private readonly ConcurrentDictionary<int, Lane> _byThread = new();
    private readonly ConcurrentDictionary<Http1Connection, byte> _open = new();
    private Lane[] _threadLanes = [];
    private int _openCount;
    private long _nextReap;
    private bool _disposed;

    public string Host { get; } = host;

    public int Port { get; } = port;

    public TimeSpan IdleTimeout { get; } = idleTimeout;

    /// <summary>Idle connections in all lanes (a sum read as it goes: for tests and the rare path, not per request).</summary>
    public int IdleCount
    {
        get
        {
            var idle = Volatile.Read(ref _unknown.Count);
            foreach (var lane in Volatile.Read(ref _threadLanes))
            {
                idle += Volatile.Read(ref lane.Count);
            }

            return idle;
        }
    }

    /// <summary>
    /// A healthy idle connection for the calling thread, if there is one. <paramref name="confirm"/>: also ask the kernel
    /// (one poll) whether the upstream closed it, for a request that cannot be sent again if it did (see
    /// <see cref="Http1Connection.IsOpenNow"/>).
    /// </summary>
    public Http1Connection? TryRentIdle(bool confirm = false) => TryRentIdle(Environment.CurrentManagedThreadId, confirm);

    /// <summary>A healthy idle connection for a request handled on <paramref name="threadId"/>, if there is one.</summary>
    internal Http1Connection? TryRentIdle(int threadId, bool confirm = false)
    {
        var now = Environment.TickCount64;
        Lane? own = null;
        if (threadAffinity && _byThread.TryGetValue(threadId, out own) && TryRentFrom(own, now, confirm) is { } mine)
        {
            return mine;
        }

        if (TryRentFrom(_unknown, now, confirm) is { } unknown)
        {
            return unknown;
        }

        var quiet = Volatile.Read(ref _openCount) - IdleCount < StealAbove;
        foreach (var lane in Volatile.Read(ref _threadLanes))
        {
            if (lane != own && (quiet || Volatile.Read(ref lane.Count) > StealAbove) && TryRentFrom(lane, now, confirm) is { } stolen)
            {
                return stolen;
            }
        }

        return null;
    }

    private Http1Connection? TryRentFrom(Lane lane, long now, bool confirm)
    {
        while (lane.Idle.TryPop(out var connection))
        {
            Interlocked.Decrement(ref lane.Count);
            // Every reuse checks the receive parked when the connection went idle: one that completed means the
            // upstream closed it, or sent bytes nobody asked for (a body after a 204, say) that would be read as the
            // next client's response. Such a connection is closed, never handed out (nginx and Envoy do the same).
            var idle = now - connection.IdleSince;
            if (idle <= (long)IdleTimeout.TotalMilliseconds && connection.IsHealthyWhileIdle() && (!confirm || connection.IsOpenNow()))
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
            try
            {
                await socket.ConnectAsync(Host, Port, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"no connection to {Host}:{Port} within {connectTimeout.TotalSeconds} s");
            }

            var connection = new Http1Connection(socket);
            _open.TryAdd(connection, 0);
            Interlocked.Increment(ref _openCount);
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
        var lane = HomeLane(connection.HomeThread);
        if (!connection.KeepAlive || connection.BufferedCount != 0 || _disposed || Volatile.Read(ref lane.Count) >= maxIdle)
        {
            Close(connection);
            return;
        }

        connection.IdleSince = Environment.TickCount64;
        connection.Park();
        Interlocked.Increment(ref lane.Count);
        lane.Idle.Push(connection);
    }

    /// <summary>Closes a connection and forgets it.</summary>
    public void Close(Http1Connection connection)
    {
        Forget(connection);
        connection.Dispose();
    }

    /// <summary>
    /// Aborts connections whose request made no progress by its deadline; returns how many. It also closes idle
    /// connections the upstream closed (or sent stray bytes on) since they went idle, each sweep: left for the idle
    /// timeout, each held a socket in CLOSE-WAIT (a Node upstream closes its keep-alive connections after 5 s), where Envoy
    /// closes on the remote close. Every half idle timeout it closes those past it too: renting finds only the most
    /// recent ones of a lane, so older ones (or a lane no thread takes from any more) would otherwise stay indefinitely.
    /// </summary>
    public int Sweep(long now)
    {
        var expired = now >= Volatile.Read(ref _nextReap);
        if (expired)
        {
            Volatile.Write(ref _nextReap, now + (long)(IdleTimeout.TotalMilliseconds / 2));
        }

        ReapIdle(now, expired);

        var aborted = 0;
        foreach (var (connection, _) in _open)
        {
            var deadline = connection.Deadline;
            if (deadline != 0 && now > deadline)
            {
                Forget(connection);
                connection.Abort(timedOut: true);
                aborted++;
            }
        }

        return aborted;
    }

    public int OpenCount => Volatile.Read(ref _openCount);

    /// <summary>
    /// Closes idle connections the upstream closed, and with <paramref name="expired"/> those unused for longer than
    /// <see cref="IdleTimeout"/>; returns how many. A lane is looked into only if it has idle connections.
    /// </summary>
    internal int ReapIdle(long now, bool expired = true)
    {
        var reaped = 0;
        var timeout = expired ? (long)IdleTimeout.TotalMilliseconds : long.MaxValue;
        foreach (var lane in AllLanes())
        {
            var count = Volatile.Read(ref lane.Count);
            if (count == 0)
            {
                continue;
            }

            // Take the lane's connections (most recent first) and put back the fresh ones in the same order.
            var taken = new Http1Connection[count];
            var n = lane.Idle.TryPopRange(taken);
            Interlocked.Add(ref lane.Count, -n);
            for (var i = n - 1; i >= 0; i--)
            {
                var connection = taken[i];
                if (now - connection.IdleSince > timeout || !connection.IsHealthyWhileIdle())
                {
                    Close(connection);
                    reaped++;
                    continue;
                }

                Interlocked.Increment(ref lane.Count);
                lane.Idle.Push(connection);
            }
        }

        return reaped;
    }

    private void Forget(Http1Connection connection)
    {
        if (_open.TryRemove(connection, out _))
        {
            Interlocked.Decrement(ref _openCount);
        }
    }

    /// <summary>The lane of a connection's home thread (created on first use); unknown homes, and all without affinity, share one.</summary>
    private Lane HomeLane(int threadId)
    {
        if (!threadAffinity || threadId == 0)
        {
            return _unknown;
        }

        if (_byThread.TryGetValue(threadId, out var lane))
        {
            return lane;
        }

        lock (_byThread)
        {
            if (!_byThread.TryGetValue(threadId, out lane))
            {
                lane = new Lane();
                Volatile.Write(ref _threadLanes, [.. _threadLanes, lane]);
                _byThread[threadId] = lane;
            }

            return lane;
        }
    }

    private Lane[] AllLanes() => [_unknown, .. Volatile.Read(ref _threadLanes)];

    public void Dispose()
    {
        _disposed = true;
        foreach (var lane in AllLanes())
        {
            while (lane.Idle.TryPop(out var connection))
            {
                Close(connection);
            }
        }
    }

    /// <summary>Idle connections of one home thread, most recently used on top.</summary>
    // The count 64 bytes from the start of the fields and from their end (the runtime ignores a class's layout Size, so
    // the last field makes the end): the object's header, its stack reference and whatever the allocator put before or
    // after it never share the count's cache line, which only the lane's own thread writes.
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit)]
    private sealed class Lane
    {
        [System.Runtime.InteropServices.FieldOffset(0)]
        public readonly ConcurrentStack<Http1Connection> Idle = new();

        [System.Runtime.InteropServices.FieldOffset(64)]
        public int Count;

#pragma warning disable CS0169 // Never read or written: it only places the end of the fields.
        [System.Runtime.InteropServices.FieldOffset(124)]
        private readonly int _end;
#pragma warning restore CS0169
    }
}
