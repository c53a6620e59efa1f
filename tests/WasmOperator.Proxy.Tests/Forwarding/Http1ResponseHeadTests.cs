using System.Text;
using WasmOperator.Proxy.Forwarding;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>The Connection field of an upstream response as the parser reads it: its options decide reuse, its other tokens name fields to drop.</summary>
public sealed class Http1ResponseHeadTests
{
    private static Http1ResponseHead Parse(string head) => Http1ResponseHead.Parse(Encoding.Latin1.GetBytes(head), headRequest: false);

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0", true)]
    [InlineData("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0", false)]
    [InlineData("HTTP/1.1 200 OK\r\nConnection: keep-alive, \t CLOSE \r\nContent-Length: 0", false)]
    [InlineData("HTTP/1.1 200 OK\r\nConnection: ,,\r\nContent-Length: 0", true)]
    [InlineData("HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0", true)]
    [InlineData("HTTP/1.0 200 OK\r\nContent-Length: 0", false)]
    [InlineData("HTTP/1.0 200 OK\r\nConnection: x-a,Keep-Alive\r\nContent-Length: 0", true)]
    [InlineData("HTTP/1.0 200 OK\r\nConnection: keep-alive\u00a0\r\nContent-Length: 0", true)]
    public void Connection_options_decide_whether_the_connection_is_kept(string head, bool keepAlive)
    {
        Assert.Equal(keepAlive, Parse(head).KeepAlive);
    }

    [Fact]
    public void Fields_the_connection_field_lists_are_dropped_in_any_case_with_whitespace_around_them()
    {
        var head = Parse("HTTP/1.1 200 OK\r\nX-One: 1\r\nConnection: x-one ,\tX-TWO,keep-alive\r\nX-Two: 2\r\nX-Three: 3\r\nConnection: x-caf\u00e9\r\n" +
                         "Content-Length: 0");

        Assert.Equal(["X-Three"], head.Headers.Select(h => h.Key));
        Assert.True(head.KeepAlive);
    }
}
