using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Chain;

/// <summary>
/// The plugin file written in place (an editor saving, <c>tar -xf</c>, <c>kubectl cp</c>): what the watcher sees half-way
/// is never applied, so an authorizer keeps answering while its file is rewritten.
/// </summary>
public sealed class PluginFileWatcherTests
{
    private static string Deny() => Yaml(Plugin("deny", Wat("deny_admin_path"), "deny"));

    [Fact]
    public async Task A_file_truncated_and_slowly_written_back_in_place_never_stops_a_fail_close_authorizer()
    {
        var yaml = Deny();
        await using var proxy = await ProxyHarness.StartAsync(yaml);
        Assert.Equal(HttpStatusCode.Forbidden, await AdminStatusAsync(proxy));
        var plugin = proxy.Server.Chains.Current!.Entries[0].Loaded;

        using var writing = new CancellationTokenSource();
        var statuses = new ConcurrentQueue<HttpStatusCode>();
        var requests = Task.Run(async () =>
        {
            while (!writing.IsCancellationRequested)
            {
                statuses.Enqueue(await AdminStatusAsync(proxy));
                await Task.Delay(10);
            }
        });

        // Truncate, pause past the watcher's quiet period, then write the same bytes back a few at a time.
        await using (var stream = new FileStream(proxy.PluginsFile, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            stream.SetLength(0);
            await stream.FlushAsync();
            await Task.Delay(1000);
            var bytes = Encoding.UTF8.GetBytes(yaml);
            for (var i = 0; i < bytes.Length; i += 8)
            {
                await stream.WriteAsync(bytes.AsMemory(i, Math.Min(8, bytes.Length - i)));
                await stream.FlushAsync();
                await Task.Delay(20);
            }
        }

        // Past the settle and whatever the watcher does with the restored file.
        await Task.Delay(1000);
        await writing.CancelAsync();
        await requests;

        Assert.NotEmpty(statuses);
        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.Forbidden, status));
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("applied: 0 plugin(s)", StringComparison.Ordinal));
        // The same VMs serve (their state is kept): nothing half-written was ever swapped in.
        Assert.Same(plugin, proxy.Server.Chains.Current!.Entries[0].Loaded);
    }

    [Fact]
    public async Task An_empty_file_is_rejected_naming_it_and_saying_how_to_remove_every_plugin_while_the_old_set_serves()
    {
        await using var proxy = await ProxyHarness.StartAsync(Deny());

        // What a writer that truncated the file and has not written yet leaves.
        await File.WriteAllTextAsync(proxy.PluginsFile, " \n\n");
        await ProxyHarness.EventuallyAsync(
            async () => LastRejected(await DumpAsync(proxy))?.Contains("plugins: []", StringComparison.Ordinal) == true, "the empty file is rejected");

        var reason = LastRejected(await DumpAsync(proxy))!;
        Assert.Contains(proxy.PluginsFile, reason, StringComparison.Ordinal);
        Assert.Contains("empty", reason, StringComparison.Ordinal);
        Assert.Contains(proxy.Logs.Lines, l => l.Contains("rejected", StringComparison.Ordinal) && l.Contains("plugins: []", StringComparison.Ordinal));
        Assert.Contains("proxy_plugin_reloads_total{result=\"rejected\"} 1", await proxy.MetricsAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, await AdminStatusAsync(proxy));
        Assert.Equal(1, proxy.Server.Chains.Current!.Revision);

        // Saying so removes every plugin.
        await proxy.WritePluginsAsync("plugins: []\n");
        await ProxyHarness.EventuallyAsync(async () => await AdminStatusAsync(proxy) != HttpStatusCode.Forbidden, "the empty set applies");
    }

    [Fact]
    public async Task A_file_that_cannot_be_read_is_reported_once_per_reason_while_the_old_set_serves_and_the_report_clears_when_it_reads_again()
    {
        // Tests run as root, which a chmod 000 does not stop: a dangling link and a directory make the read fail instead.
        var yaml = Deny();
        await using var proxy = await ProxyHarness.StartAsync(yaml);
        var plugin = proxy.Server.Chains.Current!.Entries[0].Loaded;

        var link = proxy.PluginsFile + ".link";
        File.CreateSymbolicLink(link, Path.Combine(proxy.Directory, "nowhere.yaml"));
        File.Move(link, proxy.PluginsFile, overwrite: true);
        await ProxyHarness.EventuallyAsync(async () => LastRejected(await DumpAsync(proxy))?.Contains("missing", StringComparison.Ordinal) == true, "the missing file is reported");
        var missing = LastRejected(await DumpAsync(proxy))!;
        Assert.StartsWith(proxy.PluginsFile + ": the plugin file is missing", missing, StringComparison.Ordinal);
        Assert.Contains("rename that over it", missing, StringComparison.Ordinal);

        File.Delete(proxy.PluginsFile);
        Directory.CreateDirectory(proxy.PluginsFile);
        await ProxyHarness.EventuallyAsync(async () => LastRejected(await DumpAsync(proxy))?.Contains("is a directory", StringComparison.Ordinal) == true, "the directory is reported");

        // Polled every 100 ms meanwhile: each reason is logged and recorded once.
        await Task.Delay(1000);
        Assert.Single(proxy.Logs.Lines, l => l.Contains(" rejected: ", StringComparison.Ordinal) && l.Contains("missing", StringComparison.Ordinal));
        Assert.Single(proxy.Logs.Lines, l => l.Contains(" rejected: ", StringComparison.Ordinal) && l.Contains("is a directory", StringComparison.Ordinal));
        Assert.Equal(2, LoadErrors(await DumpAsync(proxy)).Count);
        Assert.Equal(HttpStatusCode.Forbidden, await AdminStatusAsync(proxy));

        // The same file back: it applies (keeping the plugin's VMs), and nothing reports the file unreadable any more.
        Directory.Delete(proxy.PluginsFile);
        await proxy.WritePluginsAsync(yaml);
        await ProxyHarness.EventuallyAsync(async () => LoadErrors(await DumpAsync(proxy)).Count == 0, "the reports clear");
        using (var dump = await DumpAsync(proxy))
        {
            Assert.True(dump.RootElement.GetProperty("lastRejected").GetProperty("superseded").GetBoolean());
        }

        Assert.Equal(HttpStatusCode.Forbidden, await AdminStatusAsync(proxy));
        Assert.Same(plugin, proxy.Server.Chains.Current!.Entries[0].Loaded);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)] // as a ConfigMap volume's ..data: the proxy is given a path through a linked directory
    [InlineData(false, true)] // the writer writes through a hard link: another path to the same file
    public async Task A_file_whose_writer_paused_between_two_plugins_is_not_applied_until_the_writer_closes_it(bool throughLinkedDirectory, bool throughHardLink)
    {
        var first = Plugin("first", Wat("pass_through"), "pass");
        var authorizer = Plugin("deny", Wat("deny_admin_path"), "deny");
        var linked = Directory.CreateTempSubdirectory("linked-plugins-").FullName;
        await using var proxy = await ProxyHarness.StartAsync(Yaml(first, authorizer), options =>
        {
            if (throughLinkedDirectory)
            {
                Directory.CreateSymbolicLink(Path.Combine(linked, "data"), Path.GetDirectoryName(options.PluginsFile)!);
                options.PluginsFile = Path.Combine(linked, "data", Path.GetFileName(options.PluginsFile!));
            }
        });
        Assert.Equal(HttpStatusCode.Forbidden, await AdminStatusAsync(proxy));

        // Rewritten in place with a new first plugin; the writer stops, file open, right before the authorizer: what it
        // wrote so far is a valid set of one plugin, which would leave /admin unguarded.
        var text = Encoding.UTF8.GetBytes(Yaml(Plugin("second", Wat("pass_through"), "pass"), authorizer));
        var cut = Encoding.UTF8.GetByteCount(Yaml(Plugin("second", Wat("pass_through"), "pass")));
        var written = proxy.PluginsFile;
        if (throughHardLink)
        {
            written = Path.Combine(linked, "hard-link.yaml");
            using var ln = System.Diagnostics.Process.Start("ln", [proxy.PluginsFile, written]);
            await ln.WaitForExitAsync();
            Assert.Equal(0, ln.ExitCode);
        }

        await using (var stream = new FileStream(written, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            stream.SetLength(0);
            await stream.WriteAsync(text.AsMemory(0, cut));
            await stream.FlushAsync();

            // Ten polls later (100 ms each; settled after 200 ms) the half is still not applied, and the log says why.
            await Task.Delay(1000);
            Assert.Equal(HttpStatusCode.Forbidden, await AdminStatusAsync(proxy)); // 200 when the half applied
            Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("applied: 1 plugin(s)", StringComparison.Ordinal));
            Assert.Contains(proxy.Logs.Lines, l => l.Contains("plugins.yaml changed and another process still has it open for writing", StringComparison.Ordinal));

            await stream.WriteAsync(text.AsMemory(cut));
        }

        await ProxyHarness.EventuallyAsync(
            () => Task.FromResult(proxy.Server.Chains.Current!.Entries.Select(e => e.Spec.Name).Order().SequenceEqual(["deny", "second"])), "the whole file applies");
        Assert.Equal(HttpStatusCode.Forbidden, await AdminStatusAsync(proxy));
        Directory.Delete(linked, recursive: true);
    }

    [Fact]
    public async Task A_file_a_process_keeps_open_for_writing_applies_once_the_wait_for_its_writer_ran_out()
    {
        await using var proxy = await ProxyHarness.StartAsync(Deny());
        proxy.Server.PluginFile!.WriterPatience = TimeSpan.FromSeconds(1);

        // A process that keeps the file open for good (a generator that never closes it) must not hold every change back.
        await using var stream = new FileStream(proxy.PluginsFile, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        stream.SetLength(0);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(Yaml()));
        await stream.FlushAsync();

        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Server.Chains.Current!.Entries.Count == 0), "the file applies as it is");
        Assert.Equal(HttpStatusCode.OK, await AdminStatusAsync(proxy));
    }

    [Fact]
    public async Task A_module_rewritten_in_place_is_loaded_once_it_is_whole_and_no_rejection_is_recorded_meanwhile()
    {
        var directory = Directory.CreateTempSubdirectory("module-settle-").FullName;
        try
        {
            var module = Path.Combine(directory, "plugin.wasm");
            File.Copy(Wat("deny_admin_path"), module);
            await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("m", module, "deny")));
            Assert.Equal(HttpStatusCode.Forbidden, await AdminStatusAsync(proxy));
            // Far longer than the writer's pause below, which is five polls (100 ms each) long.
            proxy.Server.PluginFile!.QuietPeriod = TimeSpan.FromSeconds(3);

            var next = await File.ReadAllBytesAsync(Wat("pass_through"));
            await using (var stream = new FileStream(module, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
            {
                stream.SetLength(0);
                await stream.WriteAsync(next.AsMemory(0, next.Length / 2));
                await stream.FlushAsync();
                await Task.Delay(500);
                await stream.WriteAsync(next.AsMemory(next.Length / 2));
            }

            await ProxyHarness.EventuallyAsync(async () => await AdminStatusAsync(proxy) == HttpStatusCode.OK, "the rewritten module applies");
            Assert.Null(LastRejected(await DumpAsync(proxy)));
            Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains(" rejected: ", StringComparison.Ordinal));
            Assert.DoesNotContain("proxy_plugin_reloads_total{result=\"rejected\"} 1", await proxy.MetricsAsync(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<HttpStatusCode> AdminStatusAsync(ProxyHarness proxy) => (await proxy.GetAsync("/admin")).Response.StatusCode;

    private static async Task<JsonDocument> DumpAsync(ProxyHarness proxy) => JsonDocument.Parse(await proxy.Admin.GetStringAsync("/config_dump"));

    private static List<string> LoadErrors(JsonDocument dump)
    {
        using (dump)
        {
            return [.. dump.RootElement.GetProperty("loadErrors").EnumerateArray().Select(e => e.GetProperty("reason").GetString() ?? "")];
        }
    }

    private static string? LastRejected(JsonDocument dump)
    {
        using (dump)
        {
            var rejected = dump.RootElement.GetProperty("lastRejected");
            return rejected.ValueKind == JsonValueKind.Null ? null : rejected.GetProperty("reason").GetString();
        }
    }
}
