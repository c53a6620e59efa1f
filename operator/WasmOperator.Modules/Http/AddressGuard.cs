using System.Net;
using System.Net.Sockets;

namespace WasmOperator.Modules.Http;

/// <summary>
/// SSRF guard: refuses link-local and cloud-metadata addresses plus configured CIDRs.
/// Loopback stays allowed (tests and local development use it).
/// </summary>
internal sealed class AddressGuard
{
    private static readonly string[] DefaultBlocked =
    [
        "169.254.0.0/16",      // IPv4 link-local, incl. 169.254.169.254 metadata
        "fe80::/10",           // IPv6 link-local
        "fd00:ec2::254/128",   // AWS IMDS over IPv6
        "100.100.100.200/32",  // Alibaba Cloud metadata
    ];

    private readonly IPNetwork[] _blocked;

    public AddressGuard(IEnumerable<string> extraCidrs)
    {
        var list = new List<IPNetwork>();
        foreach (var cidr in DefaultBlocked.Concat(extraCidrs))
        {
            list.Add(IPNetwork.Parse(cidr));
        }

        _blocked = [.. list];
    }

    public bool IsBlocked(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var network in _blocked)
        {
            if (network.BaseAddress.AddressFamily == address.AddressFamily && network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Resolves the host and connects to the first address that is allowed; any blocked address refuses the host.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken);
        foreach (var address in addresses)
        {
            if (IsBlocked(address))
            {
                throw new BlockedConnectionException(host, address.ToString());
            }
        }

        Exception? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
            catch
            {
                // Cancellation or anything else: the socket is ours until the stream owns it.
                socket.Dispose();
                throw;
            }
        }

        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }
}
