using System.Text.Json.Nodes;
using k8s;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Configuration;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class RegistryBreakerTests
{
    private static readonly string[] Holes = ["hole1", "hole2", "hole3", "hole4", "hole5", "hole6"];

    [Fact]
    public async Task Plugins_of_a_registry_that_never_answers_fail_at_once_while_others_are_reconciled_and_become_Ready_when_it_answers_again()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        await using var front = new TcpCutter(new Uri($"http://{registry.HostPort}/"));
        var silent = front.Url.Authority;
        var (url, sha) = cluster.Modules.ProxyWasm("breaker");
        var module = File.ReadAllBytes(cluster.Modules.PathOf(url));
        await registry.PushAsync("team/healthy", "v1", module);
        foreach (var hole in Holes)
        {
            await registry.PushAsync($"team/{hole}", "v1", module);
        }

        // More plugins on the silent registry than workers; each attempt waits for the response timeout.
        var op = await cluster.StartOperatorAsync(cluster.Options() with
        {
            InsecureRegistries = [silent, registry.HostPort],
            Registry = new RegistryTiming
            {
                ResponseHeadersTimeout = TimeSpan.FromMilliseconds(500),
                RetryBaseDelay = TimeSpan.FromMilliseconds(50),
                CircuitBreakerCooldown = TimeSpan.FromSeconds(1),
                CircuitBreakerMaxCooldown = TimeSpan.FromSeconds(2),
            },
        });
        await cluster.CreateAsync(Cluster.Plugin("healthy", $"oci://{registry.HostPort}/team/healthy:v1"));
        await cluster.WaitForConditionAsync("healthy", ConditionTypes.Ready, ConditionStatus.True);
        front.Silence();
        foreach (var hole in Holes)
        {
            await cluster.CreateAsync(Cluster.Plugin(hole, $"oci://{silent}/team/{hole}:v1"));
        }

        foreach (var hole in Holes)
        {
            var waiting = await WaitForReasonAsync(cluster, hole, ConditionReasons.RegistryUnavailable);
            var message = waiting.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Reconciling)!.Message;
            Assert.Contains($"registry {silent} did not answer within 500 ms: ", message, StringComparison.Ordinal);
            Assert.Contains(" attempts in a row since ", message, StringComparison.Ordinal);
            Assert.Contains(" not tried again until ", message, StringComparison.Ordinal);
            Assert.DoesNotContain("retrying with backoff", message, StringComparison.Ordinal);
        }

        await cluster.PatchSpecAsync("healthy", new JsonObject { ["pluginConfig"] = new JsonObject { ["value"] = "edit" } });
        var edited = await cluster.WaitForConditionAsync("healthy", ConditionTypes.Ready, ConditionStatus.True);

        Assert.Equal(2, edited.Status!.ObservedGeneration);
        Assert.Equal("edit", op.Desired.Get("default/healthy")!.Spec.PluginConfig!["value"]!.GetValue<string>());
        foreach (var hole in Holes)
        {
            // Still waiting for the registry, reported so: the edit did not wait for their fetches.
            Assert.Equal(ConditionReasons.RegistryUnavailable, (await cluster.GetAsync(hole))!.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Reconciling)!.Reason);
        }

        front.Resume();
        foreach (var hole in Holes)
        {
            var ready = await cluster.WaitForConditionAsync(hole, ConditionTypes.Ready, ConditionStatus.True);
            Assert.Equal($"sha256:{sha}", ready.Status!.Module!.ModuleDigest);
        }

        Assert.Contains($"Registry {silent} answers again", cluster.Log.Tail(200), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_breaker_cycle_writes_one_status_and_one_event_for_each_plugin_of_the_registry_also_for_those_refused_while_the_probe_is_out()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        await using var front = new TcpCutter(new Uri($"http://{registry.HostPort}/"));
        var down = front.Url.Authority;
        string[] names = ["first", "second"];
        var op = await cluster.StartOperatorAsync(cluster.Options() with
        {
            InsecureRegistries = [down],
            Registry = new RegistryTiming
            {
                ResponseHeadersTimeout = TimeSpan.FromSeconds(3),
                RetryBaseDelay = TimeSpan.FromMilliseconds(50),
                CircuitBreakerCooldown = TimeSpan.FromSeconds(5),
                CircuitBreakerMaxCooldown = TimeSpan.FromSeconds(10),
            },
        });

        // Connections refused at once: the breaker opens in the first passes, and both report it.
        front.Pause();
        foreach (var name in names)
        {
            await cluster.CreateAsync(Cluster.Plugin(name, $"oci://{down}/team/{name}:v1"));
        }

        foreach (var name in names)
        {
            await WaitForReasonAsync(cluster, name, ConditionReasons.RegistryUnavailable);
            await cluster.QuietAsync(op, name);
        }

        // Both come back at the cooldown's end: one is the probe, held until its response timeout; the other is refused
        // behind it. The probe fails and the registry is ejected again.
        front.Resume();
        front.Silence();
        var patches = op.Host.Metrics.StatusPatches.Value;
        var events = new Dictionary<string, int>();
        var reported = new Dictionary<string, string>();
        foreach (var name in names)
        {
            events[name] = await UnavailableEventsAsync(cluster, name);
            reported[name] = ReadyMessage((await cluster.GetAsync(name))!);
        }

        // The cycle is over when both report the same new ejection (their messages differ only in the URL).
        string[] now = [];
        await Cluster.EventuallyAsync(
            async () =>
            {
                var plugins = new List<WasmPlugin>();
                foreach (var name in names)
                {
                    plugins.Add((await cluster.GetAsync(name))!);
                }

                now = [.. plugins.Select(ReadyMessage)];
                return now[0] != reported["first"] && now[1] != reported["second"] && After(now[0], down) == After(now[1], down);
            },
            () => $"both plugins to report the registry ejected again; now: {string.Join(" | ", now)}\noperator log:\n{cluster.Log.Tail()}");
        foreach (var name in names)
        {
            // Its event is recorded after its status is written.
            await Cluster.EventuallyAsync(
                async () =>
                {
                    var message = ReadyMessage((await cluster.GetAsync(name))!);
                    return (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items.Any(e => e.InvolvedObject.Name == name && e.Message == message);
                },
                $"the event of {name}'s new status");
        }

        Assert.Contains(" not tried again until ", now[0], StringComparison.Ordinal);
        Assert.Equal(patches + names.Length, op.Host.Metrics.StatusPatches.Value);
        foreach (var name in names)
        {
            Assert.Equal(events[name] + 1, await UnavailableEventsAsync(cluster, name));
        }
    }

    private static string ReadyMessage(WasmPlugin plugin) =>
        plugin.Status?.Conditions?.Find(c => c.Type == ConditionTypes.Ready)?.Message ?? string.Empty;

    private static string After(string message, string host) =>
        message.IndexOf($"registry {host} ", StringComparison.Ordinal) is var at and >= 0 ? message[at..] : message;

    private static async Task<int> UnavailableEventsAsync(Cluster cluster, string name) =>
        (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items
            .Where(e => e.InvolvedObject.Name == name && e.Reason == ConditionReasons.RegistryUnavailable)
            .Sum(e => e.Count ?? 1);

    private static async Task<WasmPlugin> WaitForReasonAsync(Cluster cluster, string name, string reason)
    {
        WasmPlugin? last = null;
        await Cluster.EventuallyAsync(
            async () =>
            {
                last = await cluster.GetAsync(name);
                return last?.Status?.Conditions?.Find(c => c.Type == ConditionTypes.Reconciling)?.Reason == reason;
            },
            () => $"default/{name} to be Reconciling with {reason}; last status: {System.Text.Json.JsonSerializer.Serialize(last?.Status)}\noperator log:\n{cluster.Log.Tail()}");
        return last!;
    }
}
