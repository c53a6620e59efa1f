using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A plugin holding part of a body (StopIterationAndBuffer before its end) decides on it from a callout's answer: a
/// resume sends the held bytes on at once, as Envoy's continueEncoding does, however long the peer waits before it
/// sends more. In each test the peer sends more only after the test saw the decision take effect (or gave up waiting
/// for it).
/// </summary>
public sealed class HeldBodyReadTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_response_chunk_held_for_a_callout_reaches_the_client_when_the_callout_resumes_it(bool h2c)
    {
        var rest = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = new RawUpstream(async (_, stream) =>
        {
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"u8.ToArray());
            await rest.Task;
            await stream.WriteAsync("6\r\n world\r\n0\r\n\r\n"u8.ToArray());
            return true;
        });
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("hold", Wat("hold_response_chunk_for_callout"), "hold")),
            o =>
            {
                o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
                o.ShardsPerPlugin = 1;
            });

        try
        {
            using var timeout = new CancellationTokenSource(Patience);
            using var response = await (h2c ? proxy.H2c : proxy.Client).GetAsync("/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var body = await response.Content.ReadAsStreamAsync(timeout.Token);
            var first = await ReadUntilAsync(body, "hello", timeout.Token);

            Assert.Equal("hello", first);
            Assert.Equal(1, proxy.Authorizer.Requests);
            rest.TrySetResult();
            using var end = new StreamReader(body);
            Assert.Equal(" world", await end.ReadToEndAsync(timeout.Token));
        }
        finally
        {
            rest.TrySetResult();
        }
    }

    /// <summary>Reads until what came ends with <paramref name="end"/>; returns all of it (Latin-1).</summary>
    private static async Task<string> ReadUntilAsync(Stream stream, string end, CancellationToken cancellationToken)
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
