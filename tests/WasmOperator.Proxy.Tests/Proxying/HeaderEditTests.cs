using System.Net;
using System.Text.Json;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// Header edits reach the wire exactly: the proxy writes back only the fields a plugin changed (and every
/// field when a plugin replaced the whole map), so untouched fields pass through as they came.
/// </summary>
public sealed class HeaderEditTests
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    [Fact]
    public async Task Fields_replaced_removed_and_added_by_name_reach_the_upstream_and_the_client_and_the_rest_is_untouched()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("edits", Wat("header_edits"), "edits")));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/original?q=1");
        request.Headers.TryAddWithoutValidation("x-custom", "sent");
        request.Headers.TryAddWithoutValidation("x-drop", "gone");
        request.Headers.TryAddWithoutValidation("x-keep", "kept");

        using var response = await proxy.Client.SendAsync(request);
        var echo = JsonSerializer.Deserialize<EchoReply>(await response.Content.ReadAsStringAsync(), Json)!;

        Assert.Equal("/rewritten", echo.Path);
        Assert.Equal("replaced", echo.Header("x-custom"));
        Assert.Null(echo.Header("x-drop"));
        Assert.Equal("kept", echo.Header("x-keep"));
        Assert.Equal(["1", "2"], echo.Headers["x-multi"].SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries)));
        Assert.Equal($"127.0.0.1:{proxy.Server.Options.Port}", echo.Header("host"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.False(response.Headers.Contains("x-upstream"));
        Assert.Equal("1", response.Headers.GetValues("x-remove-me").Single());
        Assert.Equal(["a", "b"], response.Headers.GetValues("x-multi").SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries)));
        Assert.Equal("text/x-edited", response.Content.Headers.ContentType?.ToString());
        Assert.NotNull(response.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task A_plugin_that_replaces_the_whole_map_leaves_only_its_fields()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("replace", Wat("headers_replaced"), "replace")));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/original");
        request.Headers.TryAddWithoutValidation("x-custom", "sent");

        using var response = await proxy.Client.SendAsync(request);
        var echo = JsonSerializer.Deserialize<EchoReply>(await response.Content.ReadAsStringAsync(), Json)!;

        Assert.Equal("/replaced", echo.Path);
        Assert.Equal("example.test", echo.Header("host"));
        Assert.Equal("req", echo.Header("x-only"));
        Assert.Null(echo.Header("x-custom"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("1", response.Headers.GetValues("x-only").Single());
        Assert.False(response.Headers.Contains("x-upstream"));
        Assert.False(response.Headers.Contains("x-remove-me"));
        Assert.Null(response.Content.Headers.ContentType);
    }
    [Fact]
    public async Task A_request_without_x_request_id_gets_a_uuid_and_one_with_it_keeps_it()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml());

        var (_, generated) = await proxy.GetAsync("/");
        var (_, again) = await proxy.GetAsync("/");
        var (_, kept) = await proxy.GetAsync("/", ("x-request-id", "client-chose-this"));

        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", generated!.Header("x-request-id"));
        Assert.NotEqual(generated.Header("x-request-id"), again!.Header("x-request-id"));
        Assert.Equal("client-chose-this", kept!.Header("x-request-id"));
    }

    [Fact]
    public async Task With_plugins_and_over_h2c_the_upstream_gets_a_generated_request_id_too()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("props", Wat("properties_echo"), "props")));
        var (_, http1) = await proxy.GetAsync("/");
        using var h2 = new HttpRequestMessage(HttpMethod.Get, "/h2") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var (_, h2c) = await proxy.SendAsync(h2, proxy.H2c);

        Assert.Matches("^[0-9a-f-]{36}$", http1!.Header("x-request-id"));
        Assert.Matches("^[0-9a-f-]{36}$", h2c!.Header("x-request-id"));
    }

    [Fact]
    public async Task Request_id_generation_can_be_turned_off()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(), o => o.GenerateRequestId = false);

        var (_, echo) = await proxy.GetAsync("/");

        Assert.Null(echo!.Header("x-request-id"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_upstream_gets_x_forwarded_proto_http_unless_the_client_sent_one(bool plugins)
    {
        // As an Envoy sidecar (use_remote_address false): added when absent, kept when an ingress in front set it.
        await using var proxy = await ProxyHarness.StartAsync(plugins ? Yaml(Plugin("props", Wat("properties_echo"), "props")) : Yaml());
        var (_, http1) = await proxy.GetAsync("/");
        var (_, kept) = await proxy.GetAsync("/", ("x-forwarded-proto", "https"));
        using var h2 = new HttpRequestMessage(HttpMethod.Get, "/h2") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var (_, h2c) = await proxy.SendAsync(h2, proxy.H2c);

        Assert.Equal("http", http1!.Header("x-forwarded-proto"));
        Assert.Equal("https", kept!.Header("x-forwarded-proto"));
        Assert.Equal("http", h2c!.Header("x-forwarded-proto"));
    }
}
