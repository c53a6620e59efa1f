using System.Net;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>An upstream that never completes the connect: Envoy's "connection timeout", not a cancellation's words.</summary>
public sealed class ConnectTimeoutTests
{
    [Theory]
    [InlineData("fast path")]
    [InlineData("YARP")]
    [InlineData("gRPC over h2c")]
    public async Task A_connect_that_does_not_complete_within_the_connect_timeout_is_a_503_saying_connection_timeout(string path)
    {
        using var unaccepted = new FullBacklogListener();
        var port = unaccepted.Port;
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n", o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = new Uri($"http://127.0.0.1:{port}");
            o.ConnectTimeout = TimeSpan.FromSeconds(1);
            o.Http1Forwarder = path == "fast path";
        });

        if (path == "gRPC over h2c")
        {
            using var call = new HttpRequestMessage(HttpMethod.Post, "/pkg.Svc/Call")
            {
                Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, Content = new ByteArrayContent([0, 0, 0, 0, 0]),
            };
            call.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
            using var answer = await proxy.H2c.SendAsync(call);

            // Envoy's gRPC form of the 503: grpc-status 14 (UNAVAILABLE) with the same text.
            Assert.Equal("14", answer.Headers.TryGetValues("grpc-status", out var status) ? status.Single() : null);
            Assert.Contains("connection timeout", Uri.UnescapeDataString(answer.Headers.GetValues("grpc-message").Single()), StringComparison.Ordinal);
            Assert.True(proxy.Logs.Contains("upstream connection timeout (UF)"), "log: " + string.Join(" | ", proxy.Logs.Lines));
            return;
        }

        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.EndsWith("reset reason: connection timeout", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.True(proxy.Logs.Contains("upstream connection timeout (UF)"), "log: " + string.Join(" | ", proxy.Logs.Lines));
        if (path == "fast path")
        {
            Assert.True(proxy.Logs.Contains($"upstream connection timeout (UF): no connection to 127.0.0.1:{port} within 1 s"),
                "log: " + string.Join(" | ", proxy.Logs.Lines));
        }
    }
}
