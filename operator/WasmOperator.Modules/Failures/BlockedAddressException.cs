namespace WasmOperator.Modules.Failures;

/// <summary>A fetch (or a token realm, or a redirect) pointed at a blocked network such as cloud metadata.</summary>
public sealed class BlockedAddressException : ModuleFetchException
{
    /// <summary>Creates the error; <paramref name="why"/> names the blocked network ("link-local, where cloud metadata …").</summary>
    public BlockedAddressException(string url, string host, string address, string why)
        : base(url, $"{url}: refusing to connect to {host} ({address}): the address is in a blocked network, {why}; use a registry or server on a routable address")
    {
        Host = host;
        Address = address;
    }

    /// <summary>Host name that resolved to the blocked address.</summary>
    public string Host { get; }

    /// <summary>The blocked address.</summary>
    public string Address { get; }

    /// <inheritdoc />
    public override string Result => "download_failure";
}
