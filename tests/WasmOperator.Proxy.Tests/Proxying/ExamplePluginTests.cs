using System.Net;
using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>Each AssemblyScript example plugin, end to end through the proxy to a real upstream.</summary>
public sealed class ExamplePluginTests
{
    [Fact]
    public async Task Requests_without_plugins_are_forwarded_to_the_upstream_unchanged()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml());
        var (response, echo) = await proxy.GetAsync("/some/path?q=1", ("x-custom", "a"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("yes", response.Headers.GetValues("x-upstream").Single());
        Assert.NotNull(echo);
        Assert.Equal("/some/path?q=1", echo.Path);
        Assert.Equal("a", echo.Header("x-custom"));
        Assert.Equal($"127.0.0.1:{proxy.Server.Options.Port}", echo.Header("host"));
    }

    [Fact]
    public async Task Add_header_adds_its_configured_value_to_responses()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "configured")));
        var (response, echo) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("configured", response.Headers.GetValues("hello").Single());
        Assert.NotNull(echo);
    }

    [Fact]
    public async Task Remove_headers_strips_response_headers_with_the_configured_prefixes()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("rm", Example("remove_headers"), "remove_headers", "x-remove")));
        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("x-remove-me"));
        Assert.True(response.Headers.Contains("x-upstream"));
    }

    [Fact]
    public async Task Auth_calls_out_to_the_named_cluster_and_continues_only_when_allowed()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("auth", Example("auth"), "auth", extra: TestModules.AuthzConfig)));

        var (allowed, echo) = await proxy.GetAsync("/orders", ("x-allow", "yes"));
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.NotNull(echo);
        Assert.Equal("authorized", echo.Header("added-header"));
        Assert.Equal("/orders", echo.Path);

        var (denied, deniedEcho) = await proxy.GetAsync("/orders", ("x-allow", "no"));
        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        Assert.Null(deniedEcho);
        Assert.Equal("not authorized", await denied.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Auth_authorizes_a_request_with_a_body_and_its_callout_carries_the_length_of_its_own_empty_body()
    {
        // The example forwards the client's headers with an empty body: the client's content-length: 3 on the callout
        // made HttpClient refuse to send it (nothing reached the authorizer), so every request with a body got 401.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("auth", Example("auth"), "auth", extra: TestModules.AuthzConfig)));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = new StringContent("abc", Encoding.UTF8, "text/plain") };
        request.Headers.TryAddWithoutValidation("x-allow", "yes");

        var (allowed, echo) = await proxy.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.NotNull(echo);
        Assert.Equal("authorized", echo.Header("added-header"));
        Assert.Equal("abc", echo.Body);
        Assert.Equal("3", echo.Header("content-length"));
        var callout = Assert.Single(proxy.Authorizer.Received);
        Assert.Equal("POST", callout.Method);
        Assert.Equal("/orders", callout.Path);
        Assert.Equal("0", callout.Header("content-length"));
        Assert.Equal("", callout.Body);
        Assert.Equal("text/plain; charset=utf-8", callout.Header("content-type"));
    }

    [Fact]
    public async Task Auth_answers_with_its_own_500_when_the_callout_cluster_is_unknown()
    {
        // As on Envoy: dispatching to an unknown cluster fails at once (BadArgument) and the example
        // takes its error branch; the request never reaches the upstream.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("auth", Example("auth"), "auth", "no-such-cluster")));
        var before = proxy.Upstream.Requests;
        var (response, _) = await proxy.GetAsync("/orders", ("x-allow", "yes"));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("auth callout failed", await response.Content.ReadAsStringAsync());
        Assert.Equal(before, proxy.Upstream.Requests);
    }

    // A WasmPlugin's pluginConfig object reaches the plugin as JSON text, as on Istio: the examples read the
    // object their manifests in examples/manifests give. They read the whole text as a value before.

    [Fact]
    public async Task Add_header_takes_the_header_and_value_from_a_pluginConfig_object()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(
            Plugin("add", Example("add_header"), "add_header", extra: "pluginConfig: {header: x-greeting, value: \"world, again!\"}")));
        var (response, echo) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(echo);
        Assert.Equal("world, again!", response.Headers.GetValues("x-greeting").Single());
        Assert.False(response.Headers.Contains("hello"));
    }

    [Fact]
    public async Task Add_header_given_an_empty_pluginConfig_object_adds_its_default_header()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("add", Example("add_header"), "add_header", extra: "pluginConfig: {}")));
        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal("world!", response.Headers.GetValues("hello").Single());
    }

    [Fact]
    public async Task Remove_headers_strips_the_prefixes_listed_in_a_pluginConfig_object()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(
            Plugin("rm", Example("remove_headers"), "remove_headers", extra: "pluginConfig: {prefixes: [x-internal-, X-Remove-]}")));
        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("x-remove-me"));
        Assert.True(response.Headers.Contains("x-upstream"));
    }

    [Fact]
    public async Task Auth_takes_its_cluster_and_the_headers_to_forward_from_a_pluginConfig_object()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("auth", Example("auth"), "auth",
            extra: "pluginConfig: {cluster: authz, timeoutMs: 30000, forwardHeaders: [X-Allow, x-request-id], allowOnStatus: [200]}")));

        var (allowed, echo) = await proxy.GetAsync("/orders", ("x-allow", "yes"), ("x-secret", "s3cret"), ("x-request-id", "r1"));
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.NotNull(echo);
        Assert.Equal("authorized", echo.Header("added-header"));
        Assert.Equal("s3cret", echo.Header("x-secret"));
        var callout = Assert.Single(proxy.Authorizer.Received);
        Assert.Equal("/orders", callout.Path);
        Assert.Equal("yes", callout.Header("x-allow"));
        Assert.Equal("r1", callout.Header("x-request-id"));
        Assert.Null(callout.Header("x-secret"));

        var (denied, deniedEcho) = await proxy.GetAsync("/orders", ("x-allow", "no"));
        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        Assert.Null(deniedEcho);
    }

    [Fact]
    public async Task Auth_lets_through_the_callout_statuses_listed_in_allowOnStatus_and_only_those()
    {
        // The authorizer answers 403 unless x-allow: yes (then 200); allowing only 403 turns that around.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("auth", Example("auth"), "auth",
            extra: "pluginConfig: {cluster: authz, allowOnStatus: [403], timeoutMs: 30000}")));

        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/orders", ("x-allow", "no"))).Response.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await proxy.GetAsync("/orders", ("x-allow", "yes"))).Response.StatusCode);
    }

    [Theory]
    [InlineData("add-header.yaml", "hello", "world!")]
    [InlineData("canary.yaml", "x-frontend-version", "v1.1.0")]
    public async Task Add_header_does_what_the_example_manifests_pluginConfig_says(string manifest, string header, string value)
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("add", Example("add_header"), "add_header", extra: ManifestPluginConfig(manifest))));
        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(value, response.Headers.GetValues(header).Single());
    }

    [Fact]
    public async Task Auth_with_the_auth_callout_manifests_pluginConfig_calls_its_cluster_with_only_the_listed_headers()
    {
        // The manifest names the cluster as Istio's Envoy does; here the proxy is given a cluster of that name. Its
        // timeoutMs (1000) is raised as in AuthzConfig: a loaded run's first callout passed 1 s, and the 504 also reads
        // as 401 while the authorizer had not yet been asked.
        const string cluster = "outbound|8080||authz.auth-system.svc.cluster.local";
        var config = ManifestPluginConfig("auth-callout.yaml");
        Assert.Contains("timeoutMs: 1000\n", config, StringComparison.Ordinal);
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("auth", Example("auth"), "auth", extra: config.Replace("timeoutMs: 1000\n", "timeoutMs: 30000\n", StringComparison.Ordinal))),
            options => options.Clusters[cluster] = options.Clusters["authz"]);

        var (response, _) = await proxy.GetAsync("/reviews/1", ("authorization", "Bearer t"), ("x-request-id", "r1"), ("x-allow", "yes"));

        // x-allow is not in forwardHeaders, so the authorizer never sees it and answers 403.
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var callout = Assert.Single(proxy.Authorizer.Received);
        Assert.Equal("/reviews/1", callout.Path);
        Assert.Equal("Bearer t", callout.Header("authorization"));
        Assert.Equal("r1", callout.Header("x-request-id"));
        Assert.Null(callout.Header("x-allow"));
    }

    [Fact]
    public async Task Remove_headers_with_the_log_only_manifests_pluginConfig_would_remove_the_listed_prefixes()
    {
        // Enforcing here, so that the removal shows: the manifest's LOG_ONLY only logs it.
        var config = ManifestPluginConfig("log-only.yaml").Replace("x-debug-", "x-remove-", StringComparison.Ordinal);
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("rm", Example("remove_headers"), "remove_headers", extra: config)));
        var (response, _) = await proxy.GetAsync("/");

        Assert.False(response.Headers.Contains("x-remove-me"));
        Assert.True(response.Headers.Contains("x-upstream"));
    }

    /// <summary>The <c>pluginConfig:</c> block of examples/manifests/<paramref name="manifest"/>, indented for <see cref="Plugin"/>'s extra lines.</summary>
    private static string ManifestPluginConfig(string manifest)
    {
        var lines = File.ReadAllLines(Path.Combine(RepoRoot, "examples", "manifests", manifest));
        var start = Array.IndexOf(lines, "  pluginConfig:");
        Assert.True(start >= 0, $"{manifest} has no spec.pluginConfig block");
        var block = "pluginConfig:\n";
        for (var i = start + 1; i < lines.Length && lines[i].StartsWith("    ", StringComparison.Ordinal); i++)
        {
            block += lines[i][2..] + "\n";
        }

        return block;
    }

    [Theory]
    [InlineData("add_header", "{header: x-version, value: 2}", "add_header: configuration key \"value\" must be a string, not a number")]
    [InlineData("auth", "{cluster: authz, timeoutMs: \"1s\"}", "auth: configuration key \"timeoutMs\" must be a number, not a string")]
    [InlineData("auth", "{timeoutMs: 1000}", "auth: configuration key \"cluster\" is required")]
    [InlineData("auth", "{cluster: authz, timeoutMs: 1e20}", "auth: configuration key \"timeoutMs\" must be a whole number of milliseconds from 1 to 2147483647")]
    // The host refuses a callout timeout of 2^31 ms or more (BAD_ARGUMENT): accepted here, every request got 500.
    [InlineData("auth", "{cluster: authz, timeoutMs: 2147483648}", "auth: configuration key \"timeoutMs\" must be a whole number of milliseconds from 1 to 2147483647")]
    [InlineData("auth", "{cluster: authz, allowOnStatus: [200, 700]}", "auth: configuration key \"allowOnStatus\" must hold HTTP status codes from 100 to 599, not 700")]
    [InlineData("auth", "{cluster: authz, forwardHeaders: [authorization, 1]}", "auth: configuration key \"forwardHeaders\" must be an array of strings, not an array holding a number at [1]")]
    [InlineData("auth", "{cluster: authz, allowOnStatus: [\"200\"]}", "auth: configuration key \"allowOnStatus\" must be an array of numbers, not an array holding a string at [0]")]
    [InlineData("remove_headers", "{prefixes: x-internal-}", "remove_headers: configuration key \"prefixes\" must be an array of strings, not a string")]
    public async Task A_pluginConfig_object_an_example_cannot_use_is_refused_with_the_key_named_and_the_previous_chain_keeps_serving(
        string plugin, string config, string expected)
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("version", Example("add_header"), "add_header", "v1")));

        var error = await proxy.Server.Chains.ApplyAsync(
            PluginFileParser.Parse(Yaml(Plugin("bad", Example(plugin), plugin, extra: "pluginConfig: " + config)), "t"), "t", CancellationToken.None);

        Assert.NotNull(error);
        Assert.Contains("default/bad", error, StringComparison.Ordinal);
        Assert.Contains("the plugin logged: " + expected, error, StringComparison.Ordinal);
        Assert.Equal("v1", (await proxy.GetAsync("/")).Response.Headers.GetValues("hello").Single());
    }

    [Fact]
    public async Task Showcase_sets_request_headers_from_properties_and_counts_in_a_plugin_metric()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("show", Example("showcase"), "showcase")));
        var (response, echo) = await proxy.GetAsync("/hello?x=1");
        await proxy.GetAsync("/again");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(echo);
        // plugin_name is what Istio gives Envoy for a WasmPlugin: namespace.name.
        Assert.Equal("default.show", echo.Header("x-plugin-name"));
        Assert.Equal("/hello?x=1", echo.Header("x-path"));
        var metrics = await proxy.MetricsAsync();
        Assert.Contains("showcase_requests 2", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Showcase_local_reply_is_sent_without_reaching_the_upstream()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("show", Example("showcase"), "showcase")));
        var before = proxy.Upstream.Requests;
        var (response, _) = await proxy.GetAsync("/local");

        Assert.Equal((HttpStatusCode)418, response.StatusCode);
        Assert.Equal("yes", response.Headers.GetValues("x-local").Single());
        Assert.Equal("I'm a teapot", await response.Content.ReadAsStringAsync());
        Assert.Equal(before, proxy.Upstream.Requests);
    }

    [Fact]
    public async Task Showcase_rewrites_the_request_body_and_the_content_length_follows()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("show", Example("showcase"), "showcase")));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/body") { Content = new StringContent("hello", Encoding.UTF8, "text/plain") };
        var (response, echo) = await proxy.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(echo);
        Assert.Equal("rewritten:hello", echo.Body);
        Assert.Equal("15", echo.Header("content-length"));
    }

    [Fact]
    public async Task Showcase_shared_data_counter_increments_across_requests()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("show", Example("showcase"), "showcase")));
        var values = new List<int>();
        for (var i = 0; i < 5; i++)
        {
            var (response, _) = await proxy.GetAsync("/cas");
            values.Add(int.Parse(response.Headers.GetValues("x-counter").Single(), System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal([1, 2, 3, 4, 5], values);
    }

    [Fact]
    public async Task Singleton_fetches_a_token_on_its_timer_and_the_auth_root_in_the_same_vm_checks_it()
    {
        var yaml = Yaml(
            Plugin("token-fetcher", Example("singleton"), "auth_singleton", "upstream", "vmId: token-vm"),
            Plugin("token-auth", Example("singleton"), "auth", extra: "vmId: token-vm"));
        await using var proxy = await ProxyHarness.StartAsync(yaml);

        Assert.Equal(HttpStatusCode.Unauthorized, (await proxy.GetAsync("/api", ("x-auth", "wrong"))).Response.StatusCode);
        await ProxyHarness.EventuallyAsync(
            async () => (await proxy.GetAsync("/api", ("x-auth", "secret-token"))).Response.StatusCode == HttpStatusCode.OK, "the fetched token is accepted");
        Assert.Equal(HttpStatusCode.Unauthorized, (await proxy.GetAsync("/api", ("x-auth", "wrong"))).Response.StatusCode);
        Assert.True(proxy.Logs.Contains("token refreshed"));
    }
}
