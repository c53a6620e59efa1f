using Microsoft.AspNetCore.Http;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Tests.Fixtures;

namespace WasmOperator.Modules.Tests.Http;

public sealed class AddressGuardTests : IDisposable
{
    private readonly TempDirectory _cache = new();

    public void Dispose() => _cache.Dispose();

    private ModuleFetcher Fetcher(string[] insecure, params string[] blocked) => new(new ModuleFetcherOptions
    {
        CacheDirectory = _cache.Path,
        InsecureHosts = insecure,
        BlockedNetworks = blocked,
        MetricsRegistry = Prometheus.Metrics.NewCustomRegistry(),
        MaxRetries = 0,
    });

    [Theory]
    [InlineData("oci://169.254.169.254/latest/meta-data:v1")]
    [InlineData("http://169.254.169.254/latest/meta-data")]
    [InlineData("https://[fd00:ec2::254]/latest/meta-data")]
    public async Task Cloud_metadata_and_link_local_addresses_are_refused(string url)
    {
        using var fetcher = Fetcher(["169.254.169.254"]);

        var error = await Assert.ThrowsAsync<BlockedAddressException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));

        Assert.Contains("blocked network", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data", "169.254.169.254", "link-local, where cloud metadata services answer")]
    [InlineData("http://[fe80::1]/plugin.wasm", "fe80::1", "IPv6 link-local")]
    public async Task An_http_url_of_a_blocked_address_not_on_the_insecure_list_says_it_is_blocked_and_why_without_advising_the_insecure_list(
        string url, string address, string why)
    {
        using var fetcher = Fetcher([]);

        var error = await Assert.ThrowsAsync<BlockedAddressException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));

        Assert.Equal(address, error.Address);
        Assert.Contains($"refusing to connect to {error.Host} ({address}): the address is in a blocked network, {why}", error.Message, StringComparison.Ordinal);
        Assert.Contains("which is never fetched from (--insecure-registries does not change that)", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("add ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_configured_CIDR_is_refused_while_loopback_stays_allowed_by_default()
    {
        await using var server = await LoopbackServer.StartAsync(context => context.Response.Body.WriteAsync(TestModules.Create()).AsTask());
        var url = $"http://{server.HostPort}/plugin.wasm";
        using var open = Fetcher([server.HostPort]);
        using var guarded = Fetcher([server.HostPort], "127.0.0.0/8");

        var fetched = await open.FetchAsync(new ModuleRequest { Url = url }, default);
        var error = await Assert.ThrowsAsync<BlockedAddressException>(() => guarded.FetchAsync(new ModuleRequest { Url = url }, default));

        Assert.NotNull(fetched.Path);
        Assert.Equal("127.0.0.1", error.Address);
        Assert.Contains("the address is in a blocked network, 127.0.0.0/8, listed in the operator's --blocked-cidrs; ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_realm_on_a_metadata_address_is_refused()
    {
        await using var registry = await LoopbackServer.StartAsync(context =>
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"http://169.254.169.254/token\",service=\"evil\"";
            return Task.CompletedTask;
        });
        using var fetcher = Fetcher([registry.HostPort, "169.254.169.254"]);

        var error = await Assert.ThrowsAsync<BlockedAddressException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{registry.HostPort}/some/plugin:v1" }, default));

        Assert.Equal("169.254.169.254", error.Address);
    }

    [Fact]
    public async Task A_redirect_to_a_metadata_address_is_refused()
    {
        await using var server = await LoopbackServer.StartAsync(context =>
        {
            context.Response.StatusCode = StatusCodes.Status302Found;
            context.Response.Headers.Location = "http://169.254.169.254/latest/meta-data";
            return Task.CompletedTask;
        });
        using var fetcher = Fetcher([server.HostPort, "169.254.169.254"]);

        await Assert.ThrowsAsync<BlockedAddressException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"http://{server.HostPort}/plugin.wasm" }, default));
    }
}
