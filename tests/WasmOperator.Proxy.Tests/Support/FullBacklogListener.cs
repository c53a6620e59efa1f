using System.Net;
using System.Net.Sockets;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// A loopback listener that never accepts, its backlog full: the kernel drops the next SYNs, so a connect to it hangs
/// until the connecting side's own connect timeout.
/// </summary>
internal sealed class FullBacklogListener : IDisposable
{
    private readonly Socket _listener = new(SocketType.Stream, ProtocolType.Tcp);
    private readonly List<Socket> _fillers = [];

    public FullBacklogListener()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(0);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        for (var i = 0; i < 4; i++)
        {
            var filler = new Socket(SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
            try
            {
                filler.Connect(IPAddress.Loopback, Port);
            }
            catch (SocketException)
            {
                // In progress (or dropped): either way it takes its place in the backlog.
            }

            _fillers.Add(filler);
        }
    }

    public int Port { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    public void Dispose()
    {
        _fillers.ForEach(s => s.Dispose());
        _listener.Dispose();
    }
}
