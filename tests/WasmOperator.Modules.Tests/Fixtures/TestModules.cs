using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace WasmOperator.Modules.Tests.Fixtures;

/// <summary>Small valid Wasm binaries (magic, version, one custom section) and the packagings around them.</summary>
internal static class TestModules
{
    /// <summary>A unique module: <c>\0asm</c>, version 1, a custom section named "test" holding <paramref name="payloadBytes"/> random bytes.</summary>
    public static byte[] Create(int payloadBytes = 64)
    {
        var payload = RandomNumberGenerator.GetBytes(payloadBytes);
        using var stream = new MemoryStream();
        stream.Write([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
        var name = "test"u8.ToArray();
        var content = new List<byte>();
        content.AddRange(Leb(name.Length));
        content.AddRange(name);
        content.AddRange(payload);
        stream.WriteByte(0); // custom section id
        stream.Write(Leb(content.Count));
        stream.Write(content.ToArray());
        return stream.ToArray();
    }

    public static string Digest(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>A tar+gzip layer holding <paramref name="entryName"/> with <paramref name="content"/>.</summary>
    public static byte[] TarGz(string entryName, byte[] content) => TarGz((entryName, content));

    /// <summary>A tar+gzip layer holding <paramref name="entries"/> as regular files, in order.</summary>
    public static byte[] TarGz(params (string Name, byte[] Content)[] entries)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, content) in entries)
            {
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) });
            }
        }

        return output.ToArray();
    }

    public static byte[] Json(string text) => Encoding.UTF8.GetBytes(text);

    private static byte[] Leb(int value)
    {
        var bytes = new List<byte>();
        do
        {
            var b = (byte)(value & 0x7f);
            value >>= 7;
            if (value != 0)
            {
                b |= 0x80;
            }

            bytes.Add(b);
        }
        while (value != 0);
        return [.. bytes];
    }
}
