using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// One keep-alive HTTP/1.1 connection to an upstream: the socket and its read buffer. Used by one
/// request at a time; the pool hands it out again only when the previous response was read to its end.
/// </summary>
internal sealed class Http1Connection : IDisposable
{
    public const int BufferSize = 16 * 1024;
    private readonly Socket _socket;
    private byte[] _buffer = new byte[BufferSize];
    private int _start;
    private int _end;
    private const int BodyIdle = 0, BodySending = 1, BodyStopped = 2;
    private CancellationTokenSource _requestBody = new();
    private int _bodyState;

    // The receive started when the connection went idle (Park); the next FillAsync takes it over.
    private ValueTask<int> _parked;
    private bool _isParked;

    public Http1Connection(Socket socket)
    {
        _socket = socket;
        // Once per connection, while the socket is open (a plugin may ask in on_log, after it closed).
        RemoteEndPoint = socket.RemoteEndPoint as IPEndPoint;
        LocalEndPoint = socket.LocalEndPoint as IPEndPoint;
    }

    /// <summary>The upstream address connected to (a cluster named by DNS name resolved), for <c>upstream.address</c>.</summary>
    public IPEndPoint? RemoteEndPoint { get; }

    /// <summary>This end of the connection, for <c>upstream.local_address</c>.</summary>
    public IPEndPoint? LocalEndPoint { get; }

    /// <summary><see cref="Environment.TickCount64"/> when the connection went back to the pool.</summary>
    public long IdleSince { get; set; }

    /// <summary>
    /// The managed thread id on which the socket's receives complete (its event thread when completions
    /// run inline), learned from the first receive that had to wait; 0 until then.
    /// </summary>
    public int HomeThread { get; internal set; }

    /// <summary>False once the upstream said "close", framing made reuse impossible, or an error happened.</summary>
    public bool KeepAlive { get; set; } = true;

    /// <summary>
    /// <see cref="Environment.TickCount64"/> by which the request in flight must make progress; 0 while idle.
    /// The pool's sweeper aborts connections past it (one timer for all, nothing per request).
    /// </summary>
    public long Deadline { get; set; }

    /// <summary>Set when the sweeper aborted the connection for lack of progress.</summary>
    public bool TimedOut { get; private set; }

    /// <summary>Set when the upstream answered (or failed) while the request body was being sent: the rest is not sent.</summary>
    public bool RequestBodyStopped => Volatile.Read(ref _bodyState) == BodyStopped;

    /// <summary>
    /// A token cancelled when the rest of the request body is not to be sent (<see cref="StopRequestBody"/>) or the
    /// connection is aborted. One source per connection, renewed only after it was cancelled.
    /// </summary>
    public CancellationToken StartRequestBody()
    {
        if (!_requestBody.TryReset())
        {
            _requestBody.Dispose();
            _requestBody = new CancellationTokenSource();
        }

        Volatile.Write(ref _bodyState, BodySending);
        return _requestBody.Token;
    }

    /// <summary>The whole request body was sent: a later <see cref="StopRequestBody"/> has nothing to stop.</summary>
    public void EndRequestBody() => Interlocked.CompareExchange(ref _bodyState, BodyIdle, BodySending);

    /// <summary>Stops a request body being sent: client reads and upstream sends waiting on its token end.</summary>
    public void StopRequestBody()
    {
        if (Interlocked.CompareExchange(ref _bodyState, BodyStopped, BodySending) == BodySending)
        {
            _requestBody.Cancel();
        }
    }

    /// <summary>Unread bytes received from the upstream.</summary>
    public ReadOnlySpan<byte> Buffered => _buffer.AsSpan(_start, _end - _start);

    /// <summary>
    /// The last response head read on this connection, once the forwarder let go of it (nothing else held it: no plugin
    /// saw it). The next response's head is parsed into it, its field list and all: no allocation per response for those.
    /// </summary>
    public Http1ResponseHead? SpareHead { get; set; }

    /// <summary>The last response body read on this connection, once the forwarder let go of it, as <see cref="SpareHead"/>.</summary>
    public Http1ResponseBody? SpareBody { get; set; }

    public ReadOnlyMemory<byte> BufferedMemory => _buffer.AsMemory(_start, _end - _start);

    public int BufferedCount => _end - _start;

    public void Consume(int count)
    {
        _start += count;
        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    /// <summary>Receives more bytes after the buffered ones; 0 means the upstream closed the connection.</summary>
    /// <remarks>Awaited once by its callers, so its state machine comes from a pool (one allocation less per response).</remarks>
    [AsyncMethodBuilder(typeof(ThreadPoolingValueTaskMethodBuilder<>))]
    public async ValueTask<int> FillAsync(int maxBuffer, CancellationToken cancellationToken)
    {
        var receive = Receive(maxBuffer, cancellationToken);
        return receive.IsCompleted ? Received(receive.GetAwaiter().GetResult(), waited: false) : Received(await receive.ConfigureAwait(false), waited: true);
    }

    /// <summary>
    /// <see cref="FillAsync"/> in two halves, for a caller that awaits the socket itself (the response head's reader): no
    /// state machine of its own, which the pool rarely has at hand with many responses in flight on a thread. The count
    /// the receive returns goes to <see cref="Received"/>.
    /// </summary>
    public ValueTask<int> Receive(int maxBuffer, CancellationToken cancellationToken)
    {
        if (_start > 0 && _end == _buffer.Length)
        {
            // Compact: keep the unread bytes at the front so a head split across reads stays contiguous.
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            if (_buffer.Length >= maxBuffer)
            {
                throw new UpstreamProtocolException($"upstream response head larger than {maxBuffer} bytes");
            }

            Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, maxBuffer));
        }

        if (_isParked)
        {
            // Started on the empty buffer when the connection went idle; nothing was consumed since, so it fills at _end (0).
            _isParked = false;
            var parked = _parked;
            _parked = default;
            return parked;
        }

        return _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
    }

    /// <summary>Takes in the bytes a <see cref="Receive"/> read; <paramref name="waited"/>: its result was awaited.</summary>
    public int Received(int read, bool waited)
    {
        if (waited)
        {
            // With inline socket completions this runs on the socket's event thread.
            HomeThread = Environment.CurrentManagedThreadId;
        }

        _end += read;
        return read;
    }

    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        _socket.SendAsync(data, SocketFlags.None, cancellationToken);

    /// <summary>
    /// Starts the next response's receive as the connection goes idle with nothing buffered. While idle it tells
    /// whether the upstream closed the connection or sent bytes nobody asked for (<see cref="IsHealthyWhileIdle"/>)
    /// without a syscall at reuse, as an event loop watches its idle connections; the next <see cref="FillAsync"/>
    /// continues it. A receive that fails or sees the end while idle only marks the connection unusable.
    /// </summary>
    public void Park()
    {
        if (_isParked || _end != _start)
        {
            return;
        }

        try
        {
            _parked = _socket.ReceiveAsync(_buffer.AsMemory(0), SocketFlags.None, CancellationToken.None);
            _isParked = true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            KeepAlive = false;
        }
    }

    /// <summary>
    /// An idle connection is usable only if nothing arrived on it meanwhile: a parked receive that completed means
    /// the upstream closed it (or sent bytes nobody asked for). No syscall, no allocation.
    /// </summary>
    public bool IsHealthyWhileIdle() => KeepAlive && _end == _start && (!_isParked || !_parked.IsCompleted);

    /// <summary>
    /// Whether the kernel has nothing to read on the idle connection (no close, no stray bytes): one poll. The parked
    /// receive learns of a close only once the event loop has handled it, which a request rented on that same thread in
    /// the same turn may precede; a request that is not sent again after a stale connection asks the kernel too.
    /// </summary>
    public bool IsOpenNow()
    {
        try
        {
            return !_socket.Poll(0, SelectMode.SelectRead);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Aborts a request in flight: pending socket operations fail at once.</summary>
    public void Abort(bool timedOut)
    {
        TimedOut |= timedOut;
        try
        {
            _requestBody.Cancel();
        }
        finally
        {
            // Whatever a registration on the body's token threw, the socket closes: a request left waiting on it would hang.
            Dispose();
        }
    }

    public void Dispose()
    {
        KeepAlive = false;
        _socket.Dispose();
    }
}
