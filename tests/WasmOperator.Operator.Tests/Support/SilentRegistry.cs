using System.Net;
using System.Net.Sockets;

namespace WasmOperator.Operator.Tests.Support;

/// <summary>
/// A registry address that accepts connections and never answers (a registry stuck behind its load balancer): a fetch
/// from it waits for the fetcher's response timeout on every attempt.
/// </summary>
internal sealed class SilentRegistry : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _held = [];
    private readonly Lock _lock = new();
    private readonly Task _accepting;

    public SilentRegistry()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public string HostPort => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Connections accepted (and held unanswered) so far.</summary>
    public int Accepted
    {
        get
        {
            lock (_lock)
            {
                return _held.Count;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        lock (_lock)
        {
            _held.ForEach(s => s.Dispose());
        }
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            var socket = await _listener.AcceptSocketAsync();
            lock (_lock)
            {
                _held.Add(socket);
            }
        }
    }
}
