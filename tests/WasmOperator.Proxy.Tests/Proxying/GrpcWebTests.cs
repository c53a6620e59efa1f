using System.Net;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// gRPC-Web (<c>application/grpc-web*</c>) is HTTP to the proxy, as to Envoy without its grpc_web filter: it is
/// forwarded as the client sent it (HTTP/1.1 to an HTTP/1.1 upstream) and refused with HTTP replies, not native gRPC ones.
/// </summary>
public sealed class GrpcWebTests
{
    private static HttpRequestMessage GrpcWebCall(string contentType)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/pkg.Service/Method") { Content = new ByteArrayContent([0, 0, 0, 0, 0]) };
        request.Content.Headers.TryAddWithoutValidation("content-type", contentType);
        return request;
    }

    [Theory]
    [InlineData("application/grpc-web")]
    [InlineData("application/grpc-web+proto")]
    [InlineData("application/grpc-web-text")]
    public async Task A_grpc_web_call_over_http11_reaches_an_http11_upstream_as_http11(string contentType)
    {
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n");
        using var request = GrpcWebCall(contentType);

        var (response, echo) = await proxy.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(echo);
        Assert.Equal(1, proxy.Upstream.Requests);
    }

    [Fact]
    public async Task A_grpc_web_caller_gets_an_http_reply_not_a_native_grpc_one()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("auth", Example("auth"), "auth", extra: TestModules.AuthzConfig)));
        using var request = GrpcWebCall("application/grpc-web+proto");

        var (response, _) = await proxy.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.False(response.Headers.Contains("grpc-status"));
        Assert.Equal("not authorized", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, proxy.Upstream.Requests);
    }

    [Theory]
    [InlineData("application/grpc")]
    [InlineData("application/grpc+proto")]
    [InlineData("application/grpc;charset=utf-8")]
    public async Task Native_grpc_content_types_still_get_grpc_replies(string contentType)
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("auth", Example("auth"), "auth", extra: TestModules.AuthzConfig)));
        using var request = GrpcWebCall(contentType);
        request.Version = HttpVersion.Version20;
        request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;

        using var response = await proxy.H2c.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("16", response.Headers.GetValues("grpc-status").Single());
    }
}
