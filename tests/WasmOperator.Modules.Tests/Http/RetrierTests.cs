using System.Net.Sockets;
using WasmOperator.Modules.Http;

namespace WasmOperator.Modules.Tests.Http;

public sealed class RetrierTests
{
    private static readonly ModuleFetcherOptions Fast = new()
    {
        CacheDirectory = "unused",
        MaxRetries = 3,
        RetryBaseDelay = TimeSpan.FromMilliseconds(1),
        RetryMaxDelay = TimeSpan.FromMilliseconds(5),
    };

    [Fact]
    public async Task A_bare_socket_error_is_a_transport_failure_and_is_retried()
    {
        // HttpClient lets this one through unwrapped when the peer resets a connection right after accepting it
        // (its RemoteEndPoint lookup fails with ENOTCONN); seen against a registry behind a forwarder that was down.
        var attempts = 0;
        var result = await new Retrier(Fast).ExecuteAsync("oci://r/p:v1", (_, _) =>
            ++attempts < 3 ? throw new SocketException((int)SocketError.NotConnected) : Task.FromResult("answered"), default);

        Assert.Equal("answered", result);
        Assert.Equal(3, attempts);
    }

    [Fact]
    public async Task A_socket_error_on_every_attempt_exhausts_the_retries_and_keeps_the_cause()
    {
        var attempts = 0;
        var error = await Assert.ThrowsAsync<RetryExhaustedException>(() => new Retrier(Fast).ExecuteAsync<string>("oci://r/p:v1", (_, _) =>
        {
            attempts++;
            throw new SocketException((int)SocketError.ConnectionReset);
        }, default));

        Assert.Equal(4, attempts);
        Assert.IsType<SocketException>(error.InnerException);
        Assert.Equal(4, error.Attempts);
    }
}
