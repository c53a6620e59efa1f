using System.Net;
using System.Net.Sockets;

namespace WasmOperator.Modules.Tests.Fixtures;

/// <summary>Picks a free TCP port on 127.0.0.1 for processes that must be told their port.</summary>
internal static class FreePort
{
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
