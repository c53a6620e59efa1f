namespace WasmOperator.Modules.Http;

/// <summary>Raised inside the connect callback; turned into a BlockedAddressException naming the URL.</summary>
internal sealed class BlockedConnectionException(string host, string address, string why)
    : Exception($"connection to {host} ({address}) refused: blocked network ({why})")
{
    public string Host { get; } = host;

    public string Address { get; } = address;

    /// <summary>The blocked network, worded for a message.</summary>
    public string Why { get; } = why;
}
