using System.Text;
using WasmOperator.Proxy.Proxying;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>The <c>grpc-message</c> of the proxy's local replies, percent-encoded as the gRPC spec says and Envoy does.</summary>
public sealed class GrpcStatusTests
{
    [Theory]
    [InlineData("not authorized", "not authorized")]
    [InlineData("100% sure", "100%25 sure")]
    [InlineData("über\nnext", "%C3%BCber%0Anext")]
    [InlineData("tab\there~", "tab%09here~")]
    public void A_message_keeps_printable_ascii_and_encodes_the_rest_and_percent(string message, string encoded)
    {
        Assert.Equal(encoded, GrpcStatus.EncodeMessage(Encoding.UTF8.GetBytes(message)));
        Assert.Equal(message, Uri.UnescapeDataString(encoded));
    }
}
