using System.Net;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Admin;

/// <summary>/ready reports whether the proxy can serve traffic.</summary>
public sealed class ReadinessTests
{
    private const string MissingModule = "/nonexistent/authz.wasm";

    [Fact]
    public async Task Not_ready_while_a_fail_close_plugin_of_the_serving_set_failed_to_load()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", MissingModule, "authz")));

        var ready = await proxy.Admin.GetAsync("/ready");
        var reason = await ready.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("default/authz", reason, StringComparison.Ordinal);
        Assert.Contains("FAIL_CLOSE", reason, StringComparison.Ordinal);
        Assert.Contains(MissingModule, reason, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await proxy.GetAsync("/")).Response.StatusCode);

        // A set that loads replaces it: ready again.
        await proxy.WritePluginsAsync(Yaml(Plugin("add", Example("add_header"), "add_header", "x")));
        await ProxyHarness.EventuallyAsync(async () => (await proxy.Admin.GetAsync("/ready")).StatusCode == HttpStatusCode.OK, "ready after a good set");
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/")).Response.StatusCode);
    }

    [Fact]
    public async Task Probes_are_answered_while_the_first_plugin_set_is_still_loading()
    {
        // The module is a FIFO: the first apply's read of it blocks until this test writes the bytes, holding startup
        // exactly where a large module's compile would (seconds); opening it for writing returns once that read began.
        var directory = Path.Combine(Path.GetTempPath(), "proxy-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var module = Path.Combine(directory, "add_header.wasm");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", module))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        var plugins = Path.Combine(directory, "plugins.yaml");
        await File.WriteAllTextAsync(plugins, Yaml(Plugin("add", module, "add_header", "x")));
        var options = new ProxyOptions
        {
            ListenAddress = IPAddress.Loopback,
            Port = FreePort.Next(),
            AdminPort = FreePort.Next(),
            H2cPort = 0,
            StatusPort = FreePort.Next(),
            PluginsFile = plugins,
            ShardsPerPlugin = 1,
            PluginsFilePollInterval = TimeSpan.FromMilliseconds(100),
        };
        options.Clusters[ProxyOptions.DefaultCluster] = new Uri("http://127.0.0.1:9");
        var starting = Task.Run(() => ProxyServer.StartAsync(options));
        try
        {
            await using (var writer = await Task.Run(() => new FileStream(module, FileMode.Open, FileAccess.Write)).WaitAsync(TimeSpan.FromSeconds(20)))
            {
                using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.AdminPort}") };
                using var status = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.StatusPort}") };

                // The connection was refused before the first set had loaded.
                Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz")).StatusCode);
                var ready = await admin.GetAsync("/ready");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
                Assert.Equal("no plugin set loaded yet\n", await ready.Content.ReadAsStringAsync());
                Assert.Equal(HttpStatusCode.ServiceUnavailable, (await status.GetAsync("/healthz/ready")).StatusCode);

                // A regular file takes the FIFO's place before the read ends, so the watcher's next look reads a file.
                var copy = module + ".tmp";
                File.Copy(Example("add_header"), copy);
                File.Move(copy, module, overwrite: true);
                await writer.WriteAsync(await File.ReadAllBytesAsync(Example("add_header")));
            }

            await using var server = await starting.WaitAsync(TimeSpan.FromSeconds(60));
            using var adminAfter = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.AdminPort}") };
            Assert.Equal("ready\n", await adminAfter.GetStringAsync("/ready"));
        }
        finally
        {
            if (!starting.IsCompleted)
            {
                // Unblock a startup still reading the FIFO, so that it ends with the test.
                await using var unblock = new FileStream(module, FileMode.Open, FileAccess.Write);
            }

            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Ready_when_the_plugin_that_failed_to_load_selects_only_some_ports()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", MissingModule, "authz", extra: "match:\n- ports:\n  - number: 9999")));

        Assert.Equal("ready\n", await proxy.Admin.GetStringAsync("/ready"));
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/")).Response.StatusCode);
    }

    [Fact]
    public async Task Ready_when_the_plugin_that_failed_to_load_fails_open()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("authz", MissingModule, "authz", extra: "failStrategy: FAIL_OPEN")));

        Assert.Equal("ready\n", await proxy.Admin.GetStringAsync("/ready"));
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/")).Response.StatusCode);
    }
}
