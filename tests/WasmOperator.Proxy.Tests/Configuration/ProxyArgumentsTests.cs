using System.Diagnostics;
using System.Net;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy.Tests.Configuration;

/// <summary>The command line: every problem named by its flag before anything starts, and the values that reach the options.</summary>
public sealed class ProxyArgumentsTests
{
    [Fact]
    public void Both_flag_forms_set_the_options()
    {
        var options = ProxyArguments.Parse([
            "--port", "8001", "--h2c-port=0", "--admin-port", "8000", "--admin-address", "::1", "--status-port", "8002", "--listen", "::1", "--upstream", "http://127.0.0.1:9000",
            "--cluster", "auth=https://auth.example:8443/base", "--route=/api=auth", "--node-label", "app=web", "--node-label", "empty=",
            "--node-meta", "NAMESPACE=shop", "--node-meta=WORKLOAD_NAME=web", "--node-id", "sidecar~10.0.0.7~web-1.shop~shop.svc.cluster.local",
            "--shards", "3", "--upstream-timeout", "2.5", "--drain-time", "0", "--inline-io", "false", "--http1-forwarder", "false", "--plugins", "p.yaml",
            "--max-callout-response-bytes", "4096", "--max-deferred-body-bytes", "65536",
        ]);

        Assert.Equal((8001, 0, 8000, 8002), (options.Port, options.H2cPort, options.AdminPort, options.StatusPort));
        Assert.Equal((IPAddress.IPv6Loopback, IPAddress.IPv6Loopback), (options.ListenAddress, options.AdminAddress));
        Assert.Equal(new Uri("http://127.0.0.1:9000"), options.Clusters[ProxyOptions.DefaultCluster]);
        Assert.Equal(new Uri("https://auth.example:8443/base"), options.Clusters["auth"]);
        Assert.Equal([new RouteOption("/api", "auth")], options.Routes);
        Assert.Equal(new Dictionary<string, string> { ["app"] = "web", ["empty"] = "" }, options.NodeLabels);
        Assert.Equal(new Dictionary<string, string> { ["NAMESPACE"] = "shop", ["WORKLOAD_NAME"] = "web" }, options.NodeMetadata);
        Assert.Equal("sidecar~10.0.0.7~web-1.shop~shop.svc.cluster.local", options.NodeId);
        Assert.Equal(3, options.ShardsPerPlugin);
        Assert.Equal(TimeSpan.FromSeconds(2.5), options.UpstreamTimeout);
        Assert.Equal(TimeSpan.Zero, options.DrainTime);
        Assert.False(options.InlineIo);
        Assert.False(options.Http1Forwarder);
        Assert.Equal("p.yaml", options.PluginsFile);
        Assert.Equal(4096, options.MaxCalloutResponseBytes);
        Assert.Equal(65536, options.MaxDeferredBodyBytes);
    }

    [Theory]
    [InlineData("off", "off")]
    [InlineData("warn", "warning")]
    public void The_plugin_log_level_takes_envoys_names_off_included(string given, string shown)
    {
        // --plugin-log-level off was refused, though Envoy takes it.
        var options = ProxyArguments.Parse(["--plugin-log-level", given]);

        Assert.Equal(shown, PluginLogLevels.Name(options.PluginLogLevel));
    }

    [Theory]
    [InlineData(new string[0], WasmProfiling.None)]
    [InlineData(new[] { "--wasm-profiler", "PerfMap" }, WasmProfiling.PerfMap)]
    [InlineData(new[] { "--wasm-profiler=jitdump" }, WasmProfiling.JitDump)]
    public void The_wasm_profiler_is_off_unless_asked_for(string[] args, WasmProfiling expected) =>
        Assert.Equal(expected, ProxyArguments.Parse(args).WasmProfiling);

    [Fact]
    public void Istio_cluster_names_are_taken_so_plugins_moved_from_istio_call_out_by_them()
    {
        // Refused before ('|' is no letter): a plugin with outbound|PORT||HOST in its code or config could not call out at all.
        var options = ProxyArguments.Parse(["--cluster", "outbound|8080||authz.auth-system.svc.cluster.local=http://127.0.0.1:9191",
            "--route", "/authz=outbound|8080||authz.auth-system.svc.cluster.local"]);

        Assert.Equal(new Uri("http://127.0.0.1:9191"), options.Clusters["outbound|8080||authz.auth-system.svc.cluster.local"]);
        Assert.Equal([new RouteOption("/authz", "outbound|8080||authz.auth-system.svc.cluster.local")], options.Routes);
    }

    [Fact]
    public void By_default_the_admin_api_is_on_loopback_and_probes_use_the_status_port_on_every_address()
    {
        var options = ProxyArguments.Parse([]);

        Assert.Equal((IPAddress.Any, IPAddress.Loopback), (options.ListenAddress, options.AdminAddress));
        Assert.Equal((15001, 15002, 15000, 15021), (options.Port, options.H2cPort, options.AdminPort, options.StatusPort));
    }

    [Fact]
    public void Every_problem_is_reported_at_once_naming_its_flag()
    {
        var error = Assert.Throws<ProxyArgumentsException>(() => ProxyArguments.Parse([
            "--port", "http", "--cluster", "auth", "--upstream", "localhost:8080", "--route", "api=x", "--route", "/b=nowhere",
            "--shards", "0", "--listen", "1.2.3", "--stream-idle-timeout", "0", "--request-id", "yes", "--bogus", "1", "--plugins",
        ]));

        Assert.Equal(
        [
            "--port: 'http' is not a port (1-65535)",
            "--cluster: 'auth' is not NAME=URL",
            "--upstream: 'localhost:8080' is not an http:// or https:// URL with a host (like http://127.0.0.1:8080), without query or credentials",
            "--route: 'api=x': the prefix must start with '/'",
            "--shards: '0' is not a whole number from 1 to 1024",
            "--listen: '1.2.3' is not an IP address (0.0.0.0, 127.0.0.1, ::)",
            "--stream-idle-timeout: '0' is not a number of seconds (more than 0 to 2147483)",
            "--request-id: 'yes' is not true or false",
            "--bogus: unknown flag",
            "unexpected argument '1': flags look like --name value",
            "--plugins: needs a value",
            "--route: '/b=nowhere' names cluster 'nowhere', which no --cluster declares (declared: upstream)",
        ], error.Problems);
    }

    [Theory]
    [InlineData(new[] { "--port", "9000", "--admin-port", "9000" }, "--port and --admin-port: all 9000; each listener needs a port of its own")]
    [InlineData(new[] { "--upstream", "http://a", "--cluster", "upstream=http://b" }, "--cluster: the default cluster is given twice (--upstream and --cluster upstream=… are the same)")]
    [InlineData(new[] { "--cluster", "a=http://x", "--cluster", "a=http://y" }, "--cluster: cluster 'a' is declared twice")]
    [InlineData(new[] { "--cluster", "a b=http://x" }, "--cluster: 'a b' is not a cluster name (visible ASCII, no spaces; like auth or outbound|8080||authz.auth.svc.cluster.local)")]
    [InlineData(new[] { "--cluster", "caf\u00e9=http://x" }, "--cluster: 'caf\u00e9' is not a cluster name (visible ASCII, no spaces; like auth or outbound|8080||authz.auth.svc.cluster.local)")]
    [InlineData(new[] { "--upstream", "http://user:secret@host" }, "--upstream: 'http://user:secret@host' is not an http:// or https:// URL with a host (like http://127.0.0.1:8080), without query or credentials")]
    [InlineData(new[] { "--max-body-bytes", "-1" }, "--max-body-bytes: '-1' is not a whole number from 0 up")]
    [InlineData(new[] { "--max-request-headers-kb", "8193" }, "--max-request-headers-kb: '8193' is not a whole number from 1 to 8192")]
    [InlineData(new[] { "--node-meta", "LABELS=app" }, "--node-meta: 'LABELS=app': LABELS holds the workload's labels, give each with --node-label KEY=VALUE")]
    [InlineData(new[] { "--node-meta", "NAMESPACE" }, "--node-meta: 'NAMESPACE' is not KEY=VALUE")]
    [InlineData(new[] { "--wasm-profiler", "vtune" }, "--wasm-profiler: 'vtune' is not a profiler (none, perfmap, jitdump)")]
    public void Conflicting_or_malformed_values_are_refused(string[] args, string problem) =>
        Assert.Equal([problem], Assert.Throws<ProxyArgumentsException>(() => ProxyArguments.Parse(args)).Problems);

    [Fact]
    public async Task The_process_prints_the_problems_and_exits_2_without_a_stack_trace()
    {
        var (code, stdout, stderr) = await RunAsync("--port", "abc", "--route", "/x=nowhere");

        Assert.Equal(2, code);
        Assert.Equal(
            "error: --port: 'abc' is not a port (1-65535)\n" +
            "error: --route: '/x=nowhere' names cluster 'nowhere', which no --cluster declares (declared: upstream)\n" +
            "run with --help for every flag and its default\n", stderr);
        Assert.Empty(stdout);
    }

    [Fact]
    public async Task Help_prints_every_flag_and_exits_0()
    {
        var (code, stdout, _) = await RunAsync("--help");

        Assert.Equal(0, code);
        Assert.Equal(ProxyArguments.Usage + "\n", stdout);
        Assert.Contains("--stream-idle-timeout SECONDS", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_port_already_taken_is_named_and_exits_1()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var (code, stdout, stderr) = await RunAsync("--listen", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--h2c-port", "0", "--status-port", "0", "--admin-port", FreePort.Next().ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(1, code);
        Assert.Contains($"error: cannot listen on 127.0.0.1 (ports {port}, 0, status 0) or 127.0.0.1 (admin ", stderr, StringComparison.Ordinal);
        Assert.Contains("address already in use; pick free ports", stderr, StringComparison.OrdinalIgnoreCase);
        // That one line, not the host's "Hosting failed to start" before it with a stack trace of the same failure.
        Assert.DoesNotContain("Hosting failed to start", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stdout, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("exec");
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "WasmOperator.Proxy.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("the proxy did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(guard.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
