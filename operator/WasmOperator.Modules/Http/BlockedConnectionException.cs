namespace WasmOperator.Modules.Http;

/// <summary>Raised inside the connect callback; turned into a BlockedAddressException naming the URL.</summary>
internal sealed class BlockedConnectionException(string host, string address)
    : Exception($"connection to {host} ({address}) refused: blocked network")
{
    public string Host { get; } = host;

    public string Address { get; } = address;
}
