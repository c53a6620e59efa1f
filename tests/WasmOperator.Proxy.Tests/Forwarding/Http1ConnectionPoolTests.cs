using System.Net;
using System.Net.Sockets;
using WasmOperator.Proxy.Forwarding;
using WasmOperator.Proxy.Tests.Support;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// The upstream connection pool's per-thread lanes (Envoy's per-worker pools): a connection goes back to
/// the lane of the thread its socket completes on, a request takes from its own thread's lane first,
/// connections of unknown home are shared, and a thread steals only from a lane with some to spare.
/// Real loopback sockets; thread ids are passed explicitly.
/// </summary>
public sealed class Http1ConnectionPoolTests : IDisposable
{
    private const int ThreadA = 101;
    private const int ThreadB = 202;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _accepted = [];

    public Http1ConnectionPoolTests() => _listener.Start();

    private int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private Http1ConnectionPool NewPool(bool affinity) =>
        new("127.0.0.1", Port, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), maxIdle: 64, threadAffinity: affinity);

    private async Task<Http1Connection> OpenAsync(Http1ConnectionPool pool, int homeThread)
    {
        var connection = await pool.ConnectAsync(CancellationToken.None);
        _accepted.Add(await _listener.AcceptSocketAsync());
        connection.HomeThread = homeThread;
        return connection;
    }

    [Fact]
    public async Task A_connection_goes_back_to_its_home_thread_and_is_rented_there_first()
    {
        using var pool = NewPool(affinity: true);
        var onA = await OpenAsync(pool, ThreadA);
        var onB = await OpenAsync(pool, ThreadB);
        pool.Return(onA);
        pool.Return(onB);

        Assert.Same(onB, pool.TryRentIdle(ThreadB));
        Assert.Same(onA, pool.TryRentIdle(ThreadA));
        Assert.Equal(0, pool.IdleCount);
    }

    [Fact]
    public async Task Under_load_a_thread_does_not_take_another_threads_last_few_connections()
    {
        using var pool = NewPool(affinity: true);
        var busy = await BusyAsync(pool);
        for (var i = 0; i < Http1ConnectionPool.StealAbove; i++)
        {
            pool.Return(await OpenAsync(pool, ThreadA));
        }

        Assert.Null(pool.TryRentIdle(ThreadB));
        Assert.Equal(Http1ConnectionPool.StealAbove, pool.IdleCount);
        Assert.Equal(2 * Http1ConnectionPool.StealAbove, pool.OpenCount);
        GC.KeepAlive(busy);
    }

    [Fact]
    public async Task Under_load_a_thread_steals_from_a_lane_with_more_than_a_few_idle()
    {
        using var pool = NewPool(affinity: true);
        var busy = await BusyAsync(pool);
        for (var i = 0; i <= Http1ConnectionPool.StealAbove; i++)
        {
            pool.Return(await OpenAsync(pool, ThreadA));
        }

        var stolen = pool.TryRentIdle(ThreadB);

        Assert.NotNull(stolen);
        Assert.Equal(ThreadA, stolen.HomeThread);
        Assert.Null(pool.TryRentIdle(ThreadB));
        GC.KeepAlive(busy);
    }

    /// <summary>
    /// One idle connection serves a request on any thread when the pool is nearly idle (homed on another
    /// thread), when its home is unknown, and always without affinity.
    /// </summary>
    [Theory]
    [InlineData(true, ThreadA)]
    [InlineData(true, 0)]
    [InlineData(false, ThreadA)]
    public async Task A_single_idle_connection_is_reused_by_another_thread(bool affinity, int homeThread)
    {
        using var pool = NewPool(affinity);
        var idle = await OpenAsync(pool, homeThread);
        pool.Return(idle);

        Assert.Same(idle, pool.TryRentIdle(ThreadB));
    }

    /// <summary>
    /// maxIdle bounds each thread's lane, as Envoy bounds each worker's pool (a request touches only its own lane's
    /// count): one past it on a lane is closed, while another lane still takes its own.
    /// </summary>
    [Fact]
    public async Task The_idle_cap_applies_to_each_threads_lane()
    {
        using var pool = new Http1ConnectionPool("127.0.0.1", Port, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), maxIdle: 2, threadAffinity: true);
        var onA = new[] { await OpenAsync(pool, ThreadA), await OpenAsync(pool, ThreadA), await OpenAsync(pool, ThreadA) };
        var onB = new[] { await OpenAsync(pool, ThreadB), await OpenAsync(pool, ThreadB) };
        foreach (var connection in onA.Concat(onB))
        {
            pool.Return(connection);
        }

        Assert.Equal(4, pool.IdleCount);
        Assert.Equal(4, pool.OpenCount);
        Assert.Same(onA[1], pool.TryRentIdle(ThreadA));
        Assert.Same(onA[0], pool.TryRentIdle(ThreadA));
        Assert.Same(onB[1], pool.TryRentIdle(ThreadB));
    }

    [Fact]
    public async Task Idle_connections_past_the_idle_timeout_are_closed_and_fresh_ones_kept_in_order()
    {
        using var pool = new Http1ConnectionPool("127.0.0.1", Port, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), maxIdle: 64, threadAffinity: true);
        var old = new[] { await OpenAsync(pool, ThreadA), await OpenAsync(pool, homeThread: 0) };
        foreach (var connection in old)
        {
            pool.Return(connection);
            connection.IdleSince -= 31_000; // back for 31 s already
        }

        var older = await OpenAsync(pool, ThreadA);
        var newer = await OpenAsync(pool, ThreadA);
        pool.Return(older);
        pool.Return(newer);

        Assert.Equal(2, pool.ReapIdle(Environment.TickCount64));

        Assert.Equal(2, pool.IdleCount);
        Assert.Equal(2, pool.OpenCount);
        Assert.Same(newer, pool.TryRentIdle(ThreadA));
        Assert.Same(older, pool.TryRentIdle(ThreadA));
    }

    [Fact]
    public async Task An_idle_connection_the_upstream_closed_is_closed_at_the_next_sweep_not_after_the_idle_timeout()
    {
        // Left for the idle timeout, each such socket sat in CLOSE-WAIT for 30 s (a Node upstream closes after 5 s).
        using var pool = NewPool(affinity: true);
        var closed = await pool.ConnectAsync(CancellationToken.None);
        var closedPeer = await _listener.AcceptSocketAsync();
        var open = await pool.ConnectAsync(CancellationToken.None);
        using var openPeer = await _listener.AcceptSocketAsync();
        pool.Return(closed);
        pool.Return(open);

        closedPeer.Dispose();
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(!closed.IsHealthyWhileIdle()), "the parked receive to see the close");
        pool.Sweep(Environment.TickCount64);

        Assert.Equal(1, pool.OpenCount);
        Assert.Equal(1, pool.IdleCount);
        Assert.Same(open, pool.TryRentIdle(Environment.CurrentManagedThreadId));
    }

    [Fact]
    public async Task A_rent_that_must_be_confirmed_asks_the_kernel_and_never_hands_out_a_connection_the_upstream_closed()
    {
        using var pool = NewPool(affinity: true);
        var connection = await pool.ConnectAsync(CancellationToken.None);
        var peer = await _listener.AcceptSocketAsync();
        pool.Return(connection);

        // The close is in the kernel when Dispose returns; the parked receive may not have run yet.
        peer.Dispose();

        Assert.Null(pool.TryRentIdle(Environment.CurrentManagedThreadId, confirm: true));
    }

    /// <summary>Puts <see cref="Http1ConnectionPool.StealAbove"/> requests in flight (connections rented and not returned).</summary>
    private async Task<Http1Connection[]> BusyAsync(Http1ConnectionPool pool)
    {
        var busy = new Http1Connection[Http1ConnectionPool.StealAbove];
        for (var i = 0; i < busy.Length; i++)
        {
            busy[i] = await OpenAsync(pool, ThreadB);
        }

        return busy;
    }

    [Fact]
    public async Task The_home_thread_is_learned_from_a_receive_that_had_to_wait()
    {
        using var pool = NewPool(affinity: true);
        var connection = await pool.ConnectAsync(CancellationToken.None);
        using var peer = await _listener.AcceptSocketAsync();

        // Bytes already there: the receive completes at once and says nothing about the socket's thread. (A receive
        // parked as the connection goes idle sees them arrive: the connection is no longer healthy while idle.)
        connection.Park();
        await peer.SendAsync("a"u8.ToArray());
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (connection.IsHealthyWhileIdle())
        {
            Assert.True(DateTime.UtcNow < deadline, "the byte sent never became readable");
            await Task.Delay(5);
        }

        Assert.Equal(1, await connection.FillAsync(1024, CancellationToken.None));
        Assert.Equal(0, connection.HomeThread);

        // Nothing there yet: the receive waits, and its continuation's thread becomes the home.
        var pending = connection.FillAsync(1024, CancellationToken.None);
        Assert.False(pending.IsCompleted);
        await peer.SendAsync("b"u8.ToArray());
        Assert.Equal(1, await pending);
        Assert.NotEqual(0, connection.HomeThread);
        connection.Dispose();
    }

    public void Dispose()
    {
        foreach (var socket in _accepted)
        {
            socket.Dispose();
        }

        _listener.Stop();
        _listener.Dispose();
    }
}
