using System.Text;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>Reading what a peer sent as text (Latin-1), for tests that stop reading once an answer came.</summary>
internal static class StreamText
{
    /// <summary>Reads until what came ends with <paramref name="end"/>; returns all of it (Latin-1).</summary>
    public static async Task<string> ReadUntilAsync(Stream stream, string end, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (!text.ToString().EndsWith(end, StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                throw new IOException("the stream ended before " + end + ": " + text);
            }

            text.Append(Encoding.Latin1.GetString(buffer, 0, read));
        }

        return text.ToString();
    }
}
