using System.Net;
using System.Net.Sockets;

namespace WasmOperator.Modules.Http;

/// <summary>
/// SSRF guard: refuses link-local and cloud-metadata addresses plus configured CIDRs.
/// Loopback stays allowed (tests and local development use it).
/// </summary>
internal sealed class AddressGuard
{
    // Each with why it is blocked, for the message: the user learns that no flag opens it.
    private static readonly (string Cidr, string Why)[] DefaultBlocked =
    [
        ("169.254.0.0/16", "link-local, where cloud metadata services answer with the node's credentials (169.254.169.254)"),
        ("fe80::/10", "IPv6 link-local"),
        ("fd00:ec2::254/128", "the AWS instance metadata service over IPv6"),
        ("100.100.100.200/32", "the Alibaba Cloud metadata service"),
    ];

    private readonly (IPNetwork Network, string Why)[] _blocked;

    public AddressGuard(IEnumerable<string> extraCidrs)
    {
        var list = new List<(IPNetwork, string)>();
        foreach (var (cidr, why) in DefaultBlocked)
        {
            list.Add((IPNetwork.Parse(cidr), $"{why}, which is never fetched from (--insecure-registries does not change that)"));
        }

        foreach (var cidr in extraCidrs)
        {
            list.Add((IPNetwork.Parse(cidr), $"{cidr}, listed in the operator's --blocked-cidrs"));
        }

        _blocked = [.. list];
    }

    public bool IsBlocked(IPAddress address) => WhyBlocked(address) is not null;

    /// <summary>Why <paramref name="address"/> is refused (its network, worded for a message), or null when it is allowed.</summary>
    public string? WhyBlocked(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var (network, why) in _blocked)
        {
            if (network.BaseAddress.AddressFamily == address.AddressFamily && network.Contains(address))
            {
                return why;
            }
        }

        return null;
    }

    /// <summary>
    /// Why <paramref name="host"/> (an address, or a name resolved here) is refused, or null when it is allowed or does not
    /// resolve; for a message that would otherwise advise a setting that cannot help.
    /// </summary>
    public async ValueTask<(string Address, string Why)?> WhyBlockedAsync(string host, CancellationToken cancellationToken)
    {
        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        }
        catch (SocketException)
        {
            return null;
        }

        foreach (var address in addresses)
        {
            if (WhyBlocked(address) is { } why)
            {
                return (address.ToString(), why);
            }
        }

        return null;
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
            if (WhyBlocked(address) is { } why)
            {
                throw new BlockedConnectionException(host, address.ToString(), why);
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
