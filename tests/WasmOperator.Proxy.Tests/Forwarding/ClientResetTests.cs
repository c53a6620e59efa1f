using Microsoft.AspNetCore.Connections;
using WasmOperator.Proxy.Forwarding;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// What counts as the client going away when a read of its request fails. An h2c client whose process exits with calls
/// in flight fails their body reads with Kestrel's "The HTTP/2 connection faulted.", often before RequestAborted is
/// cancelled (the adversarial tester saw 4-177 of them per h2load -D run under load; a loopback test cannot order the
/// two on purpose, hence this test of the exceptions Kestrel throws). Each was an unexpected failure: an error line with
/// its stack trace and a 500 counted, where Envoy counts a downstream reset (DC) and no response.
/// </summary>
public sealed class ClientResetTests
{
    [Fact]
    public void A_body_read_failed_by_the_client_connection_faulting_is_the_client_going_away()
    {
        // As Kestrel's HTTP/2 request body reader throws it.
        var faulted = new IOException("The request stream was aborted.", new ConnectionAbortedException("The HTTP/2 connection faulted."));

        Assert.True(ClientReset.Caused(faulted));
    }

    [Fact]
    public void A_client_connection_reset_is_the_client_going_away()
    {
        Assert.True(ClientReset.Caused(new IOException("read failed", new ConnectionResetException("Connection reset by peer"))));
    }

    [Fact]
    public void Other_read_failures_are_not()
    {
        Assert.False(ClientReset.Caused(new IOException("Unexpected end of request content.")));
        Assert.False(ClientReset.Caused(new OperationCanceledException()));
        Assert.False(ClientReset.Caused(null));
    }
}
