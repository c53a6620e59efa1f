namespace WasmOperator.Modules.Verification;

/// <summary>The <c>\0asm</c> preamble every WebAssembly binary starts with.</summary>
internal static class WasmMagic
{
    private static ReadOnlySpan<byte> Magic => [0x00, 0x61, 0x73, 0x6d];

    public static bool Matches(ReadOnlySpan<byte> head) => head.Length >= 4 && head[..4].SequenceEqual(Magic);

    public static async Task<bool> FileMatchesAsync(string path, CancellationToken cancellationToken)
    {
        var head = new byte[4];
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 16, useAsync: true);
        var read = await stream.ReadAtLeastAsync(head, 4, throwOnEndOfStream: false, cancellationToken);
        return read == 4 && Matches(head);
    }
}
