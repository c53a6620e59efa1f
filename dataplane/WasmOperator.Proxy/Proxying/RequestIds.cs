namespace WasmOperator.Proxy.Proxying;

/// <summary><c>x-request-id</c> as Envoy generates it: a random (version 4) UUID when the request has none.</summary>
internal static class RequestIds
{
    public const string Header = "x-request-id";

    /// <summary>
    /// A version 4 UUID from the thread's fast random generator: request ids need to be unique, not secret
    /// (Envoy uses a non-cryptographic generator for them too), and Guid.NewGuid asks the kernel for entropy.
    /// </summary>
    public static Guid New()
    {
        Span<byte> bytes = stackalloc byte[16];
        Random.Shared.NextBytes(bytes);
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        // Kept as a Guid: the path without plugins writes it into the upstream request as bytes, with no string made of it.
        return new Guid(bytes, bigEndian: true);
    }
}
