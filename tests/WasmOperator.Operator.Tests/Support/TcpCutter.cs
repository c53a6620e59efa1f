using System.Net;
using System.Net.Sockets;

namespace WasmOperator.Operator.Tests.Support;

/// <summary>
/// A loopback TCP forwarder between the operator and the API server that a test can cut (drop every
/// connection, like a server or load balancer dropping a watch), pause (refuse connections, like an outage) and
/// silence (accept connections and never answer, like a server stuck behind its load balancer). It fronts a registry too.
/// </summary>
internal sealed class TcpCutter : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Uri _target;
    private readonly List<TcpClient> _open = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private volatile bool _paused;
    private volatile bool _silent;
    private int _refused;
    private int _held;

    public TcpCutter(Uri target)
    {
        _target = target;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public Uri Url => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

    /// <summary>Connections reset on arrival while paused.</summary>
    public int Refused => Volatile.Read(ref _refused);

    /// <summary>Connections accepted and held unanswered while silenced.</summary>
    public int Held => Volatile.Read(ref _held);

    public void Cut()
    {
        lock (_lock)
        {
            foreach (var c in _open)
            {
                c.Client.LingerState = new LingerOption(true, 0);
                c.Dispose();
            }

            _open.Clear();
        }
    }

    public void Pause()
    {
        lock (_lock)
        {
            _paused = true;
        }

        Cut();
    }

    public void Silence()
    {
        lock (_lock)
        {
            _silent = true;
        }

        Cut();
    }

    public void Resume()
    {
        _paused = false;
        _silent = false;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Cut();
        try
        {
            await _accepting;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            if (_paused)
            {
                inbound.Client.LingerState = new LingerOption(true, 0);
                inbound.Dispose();
                Interlocked.Increment(ref _refused);
                continue;
            }

            if (_silent)
            {
                lock (_lock)
                {
                    _open.Add(inbound);
                }

                Interlocked.Increment(ref _held);
                continue;
            }

            _ = PipeAsync(inbound);
        }
    }

    private async Task PipeAsync(TcpClient inbound)
    {
        var outbound = new TcpClient();
        try
        {
            await outbound.ConnectAsync(_target.Host, _target.Port, _stop.Token);
            lock (_lock)
            {
                // Accepted before a pause or silence but connected after its Cut: the cut must reach it too, or the
                // client keeps one working connection through the outage.
                if (_paused || _silent)
                {
                    inbound.Client.LingerState = new LingerOption(true, 0);
                    return;
                }

                _open.Add(inbound);
                _open.Add(outbound);
            }

            var a = inbound.GetStream().CopyToAsync(outbound.GetStream(), _stop.Token);
            var b = outbound.GetStream().CopyToAsync(inbound.GetStream(), _stop.Token);
            await Task.WhenAny(a, b);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            lock (_lock)
            {
                _open.Remove(inbound);
                _open.Remove(outbound);
            }

            inbound.Dispose();
            outbound.Dispose();
        }
    }
}
