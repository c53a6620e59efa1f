using System.Net;
using System.Net.Sockets;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// Picks a free loopback port (bind to 0, read it, release it), never the same one twice in this
/// process. Another process may still take it before it is bound: starters retry (see <see cref="RetryAsync"/>).
/// </summary>
internal static class FreePort
{
    private static readonly HashSet<int> Given = [];

    public static int Next()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            lock (Given)
            {
                if (Given.Add(port))
                {
                    return port;
                }
            }
        }
    }

    /// <summary>Runs <paramref name="start"/> again (with new ports) when a port was taken in between.</summary>
    public static async Task<T> RetryAsync<T>(Func<Task<T>> start)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await start();
            }
            catch (IOException ex) when (attempt < 5 && ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
            {
            }
        }
    }
}
