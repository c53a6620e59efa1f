using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>
/// Fields a client names in Connection are hop-by-hop: removed as the request arrives, never what the proxy or a
/// plugin adds afterwards.
/// </summary>
public sealed class ConnectionListedFieldsTests
{
    [Fact]
    public async Task A_client_cannot_remove_the_request_id_or_x_forwarded_proto_by_naming_them_in_Connection()
    {
        await using var proxy = await ProxyHarness.StartAsync("plugins: []\n");

        var (response, echo) = await proxy.GetAsync("/",
            ("Connection", "x-request-id, x-forwarded-proto, x-hop"), ("x-request-id", "from-the-client"), ("x-forwarded-proto", "https"), ("x-hop", "1"));

        response.EnsureSuccessStatusCode();
        Assert.NotNull(echo);
        Assert.Null(echo.Header("x-hop"));
        // The client's own values were hop-by-hop: the proxy's take their place.
        Assert.Equal("http", echo.Header("x-forwarded-proto"));
        Assert.False(string.IsNullOrEmpty(echo.Header("x-request-id")));
        Assert.NotEqual("from-the-client", echo.Header("x-request-id"));
    }

    [Theory]
    [InlineData("x-plugin")]
    [InlineData("x-plugin, keep-alive")]
    [InlineData("x-plugin, close")]
    public async Task A_header_a_plugin_sets_reaches_the_upstream_whatever_the_client_names_in_Connection(string connection)
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("setter", Wat("set_field_from_request"), "setter")));

        var (response, echo) = await proxy.GetAsync("/",
            ("Connection", connection), ("x-plugin", "from-the-client"), ("x-set-name", "x-plugin"), ("x-set-value", "from-the-plugin"));

        response.EnsureSuccessStatusCode();
        Assert.NotNull(echo);
        Assert.Equal("from-the-plugin", echo.Header("x-plugin"));
    }

    // Only when Connection has no keep-alive/close: with one, Kestrel hands over that option alone and the other names
    // are not seen (the field then goes through, as Envoy and nginx always let it).
    [Fact]
    public async Task A_field_the_client_names_in_Connection_does_not_reach_the_upstream()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("showcase", Example("showcase"), "showcase")));

        var (response, echo) = await proxy.GetAsync("/", ("Connection", "x-hop"), ("x-hop", "1"), ("x-kept", "1"));

        response.EnsureSuccessStatusCode();
        Assert.NotNull(echo);
        Assert.Null(echo.Header("x-hop"));
        Assert.Equal("1", echo.Header("x-kept"));
    }
}
