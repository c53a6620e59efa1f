using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Time.Testing;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class RegistryTests
{
    // A retry after the first failure would come only after this: a plugin Ready sooner was requeued by the Secret's watch.
    private static readonly TimeSpan LongBackoff = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task A_private_module_is_pulled_as_soon_as_its_pull_secret_is_created_without_waiting_for_the_backoff()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync(auth: true);
        var (url, sha) = cluster.Modules.ProxyWasm("private");
        var manifest = await registry.PushAsync("team/private", "v1", File.ReadAllBytes(cluster.Modules.PathOf(url)));
        var op = await cluster.StartOperatorAsync(cluster.Options() with
        {
            InsecureRegistries = [registry.HostPort], QueueBaseDelay = LongBackoff, QueueMaxDelay = 2 * LongBackoff,
        });
        var plugin = Cluster.Plugin("private", $"oci://{registry.HostPort}/team/private:v1");
        plugin["spec"]!["imagePullSecret"] = "pull";

        await cluster.CreateAsync(plugin);
        var waiting = await cluster.WaitForConditionAsync("private", ConditionTypes.Reconciling, ConditionStatus.True);
        await Cluster.EventuallyAsync(() => op.Host.Queue.NumRequeues("default/private") >= 1, "the plugin to wait for its backoff");
        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(PullSecret("pull", registry.DockerConfigJson()), "default");
        var ready = await cluster.WaitForConditionAsync("private", ConditionTypes.Ready, ConditionStatus.True);

        Assert.Equal(ConditionReasons.PullSecretNotFound, waiting.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!.Reason);
        Assert.Contains("default/pull", waiting.Status.Conditions.Find(c => c.Type == ConditionTypes.Ready)!.Message, StringComparison.Ordinal);
        Assert.Equal(manifest, ready.Status!.Module!.ManifestDigest);
        Assert.Equal($"sha256:{sha}", ready.Status.Module.ModuleDigest);
        Assert.Equal($"sha256:{sha}", op.Desired.Get("default/private")!.ModuleDigest);
        var cached = op.Host.Secrets.Get("default/pull");
        Assert.NotNull(cached);
        Assert.Equal([".dockerconfigjson"], cached.Keys);
    }

    [Fact]
    public async Task A_tag_not_pushed_yet_is_tried_again_at_most_the_always_pull_interval_apart_and_the_plugin_becomes_Ready_once_it_is()
    {
        var interval = TimeSpan.FromMinutes(2);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("early");
        // The queue's delays run on the test's clock. The backoff doubles from a minute: uncapped, the third retry
        // would come four minutes after the second, and the fourth eight.
        var op = await cluster.StartOperatorAsync(cluster.Options() with
        {
            LeaderElection = false, InsecureRegistries = [registry.HostPort], AlwaysPullInterval = interval,
            QueueBaseDelay = TimeSpan.FromMinutes(1), QueueMaxDelay = TimeSpan.FromMinutes(30),
        }, time: clock);
        await cluster.CreateAsync(Cluster.Plugin("early", $"oci://{registry.HostPort}/team/early:v1"));
        var waiting = await cluster.WaitForConditionAsync("early", ConditionTypes.Reconciling, ConditionStatus.True);
        await cluster.QuietAsync(op, "early");
        for (var i = 1; i <= 4; i++)
        {
            var reconciles = op.Host.Reconciles;
            clock.Advance(interval);
            await Cluster.EventuallyAsync(() => op.Host.Reconciles > reconciles, $"try {i} at most {interval} after the one before");
            await cluster.QuietAsync(op, "early");
        }

        var stillWaiting = await cluster.GetAsync("early");
        await registry.PushAsync("team/early", "v1", File.ReadAllBytes(cluster.Modules.PathOf(url)));
        clock.Advance(interval);
        var ready = await cluster.WaitForConditionAsync("early", ConditionTypes.Ready, ConditionStatus.True);

        var message = waiting.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Reconciling)!.Message;
        Assert.Contains("team/early:v1 was not found (404", message, StringComparison.Ordinal);
        Assert.EndsWith("; it may not be pushed yet: retrying with backoff, at most 120s apart", message, StringComparison.Ordinal);
        // Ready and the Warning event say the same: the 404 is retried, not a wrong reference to fix.
        Assert.Equal(message, waiting.Status.Conditions.Find(c => c.Type == ConditionTypes.Ready)!.Message);
        var warning = Assert.Single((await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items, e => e.Reason == ConditionReasons.FetchFailed);
        Assert.Equal(message, warning.Message);
        // Every try found what the first did: nothing written after it.
        Assert.Equal(waiting.Metadata!.ResourceVersion, stillWaiting!.Metadata!.ResourceVersion);
        Assert.Equal($"sha256:{sha}", ready.Status!.Module!.ModuleDigest);
    }

    [Fact]
    public async Task A_plugin_stalled_on_wrong_credentials_becomes_Ready_when_its_pull_secret_is_corrected()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync(auth: true);
        var (url, sha) = cluster.Modules.ProxyWasm("corrected");
        await registry.PushAsync("team/corrected", "v1", File.ReadAllBytes(cluster.Modules.PathOf(url)));
        var op = await cluster.StartOperatorAsync(cluster.Options() with
        {
            InsecureRegistries = [registry.HostPort], QueueBaseDelay = LongBackoff, QueueMaxDelay = 2 * LongBackoff,
        });
        var wrong = registry.DockerConfigJson().Replace(
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{Registry.User}:{Registry.Password}")),
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{Registry.User}:wrong-password")), StringComparison.Ordinal);
        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(PullSecret("creds", wrong), "default");
        var plugin = Cluster.Plugin("corrected", $"oci://{registry.HostPort}/team/corrected:v1");
        plugin["spec"]!["imagePullSecret"] = "creds";
        var unrelated = Cluster.Plugin("unrelated", url, sha);

        await cluster.CreateAsync(plugin);
        await cluster.CreateAsync(unrelated);
        var stalled = await cluster.WaitForConditionAsync("corrected", ConditionTypes.Stalled, ConditionStatus.True);
        await cluster.WaitForConditionAsync("unrelated", ConditionTypes.Ready, ConditionStatus.True);
        var unrelatedApplies = op.Desired.AppliesOf("default/unrelated");
        var secret = await cluster.Client.CoreV1.ReadNamespacedSecretAsync("creds", "default");
        secret.Data[".dockerconfigjson"] = System.Text.Encoding.UTF8.GetBytes(registry.DockerConfigJson());
        await cluster.Client.CoreV1.ReplaceNamespacedSecretAsync(secret, "creds", "default");
        var ready = await cluster.WaitForConditionAsync("corrected", ConditionTypes.Ready, ConditionStatus.True);

        Assert.Equal(ConditionReasons.AuthFailed, stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!.Reason);
        Assert.Equal("waiting for a spec change or a change to Secret default/creds", stalled.Status.Conditions.Find(c => c.Type == ConditionTypes.Reconciling)!.Message);
        Assert.Equal($"sha256:{sha}", ready.Status!.Module!.ModuleDigest);
        Assert.Equal(1, unrelatedApplies);
        Assert.Equal(1, op.Desired.AppliesOf("default/unrelated"));
    }

    [Fact]
    public async Task An_Opaque_pull_secret_is_refused_naming_the_type_required_and_a_dockerconfigjson_one_created_in_its_place_is_used()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync(auth: true);
        var (url, sha) = cluster.Modules.ProxyWasm("opaque");
        await registry.PushAsync("team/opaque", "v1", File.ReadAllBytes(cluster.Modules.PathOf(url)));
        await cluster.StartOperatorAsync(cluster.Options() with
        {
            InsecureRegistries = [registry.HostPort], QueueBaseDelay = LongBackoff, QueueMaxDelay = 2 * LongBackoff,
        });
        var opaque = PullSecret("pull", registry.DockerConfigJson());
        opaque.Type = "Opaque";
        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(opaque, "default");
        var plugin = Cluster.Plugin("opaque", $"oci://{registry.HostPort}/team/opaque:v1");
        plugin["spec"]!["imagePullSecret"] = "pull";

        await cluster.CreateAsync(plugin);
        var stalled = await cluster.WaitForConditionAsync("opaque", ConditionTypes.Stalled, ConditionStatus.True);
        await cluster.Client.CoreV1.DeleteNamespacedSecretAsync("pull", "default");
        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(PullSecret("pull", registry.DockerConfigJson()), "default");
        var ready = await cluster.WaitForConditionAsync("opaque", ConditionTypes.Ready, ConditionStatus.True);

        var reason = stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!;
        Assert.Equal(ConditionReasons.AuthFailed, reason.Reason);
        Assert.StartsWith("spec.imagePullSecret: Secret default/pull is of type Opaque; a pull secret must be of type kubernetes.io/dockerconfigjson", reason.Message, StringComparison.Ordinal);
        Assert.Equal("waiting for a spec change or a change to Secret default/pull", stalled.Status.Conditions.Find(c => c.Type == ConditionTypes.Reconciling)!.Message);
        Assert.Equal($"sha256:{sha}", ready.Status!.Module!.ModuleDigest);
    }

    [Fact]
    public async Task A_pull_secret_that_is_not_JSON_stalls_the_plugin_naming_the_Secret_and_quoting_none_of_it()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync(auth: true);
        await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [registry.HostPort] });
        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(PullSecret("garbled", "trUe_SuperSecretPassw0rd_1234567890abcdef"), "default");
        var plugin = Cluster.Plugin("garbled", $"oci://{registry.HostPort}/team/garbled:v1");
        plugin["spec"]!["imagePullSecret"] = "garbled";

        await cluster.CreateAsync(plugin);
        var stalled = await cluster.WaitForConditionAsync("garbled", ConditionTypes.Stalled, ConditionStatus.True);

        var ready = stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!;
        Assert.Equal(ConditionReasons.AuthFailed, ready.Reason);
        Assert.Contains("spec.imagePullSecret: Secret default/garbled, key .dockerconfigjson, is not valid JSON (line 1, byte 3)", ready.Message, StringComparison.Ordinal);
        Assert.Contains("kubectl create secret docker-registry garbled -n default", ready.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SuperSecret", ready.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plugin_without_a_pull_secret_gets_AuthFailed_for_a_private_module_another_namespace_pulled()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync(auth: true);
        var (url, _) = cluster.Modules.ProxyWasm("private-cache");
        await registry.PushAsync("team/private", "v1", File.ReadAllBytes(cluster.Modules.PathOf(url)));
        foreach (var ns in new[] { "team", "other" })
        {
            await cluster.Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } });
        }

        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(PullSecret("pull", registry.DockerConfigJson()), "team");
        var op = await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [registry.HostPort] });
        var owner = Cluster.Plugin("owner", $"oci://{registry.HostPort}/team/private:v1", ns: "team");
        owner["spec"]!["imagePullSecret"] = "pull";
        await cluster.CreateAsync(owner);
        await cluster.WaitForConditionAsync("owner", ConditionTypes.Ready, ConditionStatus.True, "team");

        await cluster.CreateAsync(Cluster.Plugin("borrower", $"oci://{registry.HostPort}/team/private:v1", ns: "other"));
        var borrower = await cluster.WaitForConditionAsync("borrower", ConditionTypes.Stalled, ConditionStatus.True, "other");

        var ready = borrower.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!;
        Assert.Equal(ConditionStatus.False, ready.Status);
        Assert.Equal(ConditionReasons.AuthFailed, ready.Reason);
        Assert.Contains($"registry {registry.HostPort} requires", ready.Message, StringComparison.Ordinal);
        Assert.Equal("waiting for a spec change", borrower.Status.Conditions.Find(c => c.Type == ConditionTypes.Reconciling)!.Message);
        Assert.Null(op.Desired.Get("other/borrower"));
    }

    private static V1Secret PullSecret(string name, string dockerConfigJson) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Type = "kubernetes.io/dockerconfigjson",
        Data = new Dictionary<string, byte[]> { [".dockerconfigjson"] = System.Text.Encoding.UTF8.GetBytes(dockerConfigJson) },
    };

    [Fact]
    public async Task A_spec_change_made_while_the_module_is_fetched_from_a_registry_that_never_answers_is_acted_on_at_once()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var silent = new SilentRegistry();
        var (url, sha) = cluster.Modules.ProxyWasm("moved");
        var op = await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [silent.HostPort] });
        await cluster.CreateAsync(Cluster.Plugin("moved", $"oci://{silent.HostPort}/team/moved:v1"));
        await Cluster.EventuallyAsync(() => silent.Accepted > 0, "the operator to connect to the registry");

        // Each attempt on the silent registry waits 15 s for an answer, retries included well over the guard.
        await cluster.PatchSpecAsync("moved", new JsonObject { ["url"] = url, ["sha256"] = sha });
        var ready = await cluster.WaitForConditionAsync("moved", ConditionTypes.Ready, ConditionStatus.True);

        Assert.Equal($"sha256:{sha}", ready.Status!.Module!.ModuleDigest);
        Assert.Equal(url, op.Desired.Get("default/moved")!.Spec.Url);
        Assert.Contains("default/moved: generation 1 is superseded", cluster.Log.Tail(200), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_new_generation_whose_fetch_takes_long_is_reported_in_progress_instead_of_the_last_ones_Ready()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var silent = new SilentRegistry();
        var (url, sha) = cluster.Modules.ProxyWasm("progressing");
        await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [silent.HostPort] });
        await cluster.CreateAsync(Cluster.Plugin("progressing", url, sha));
        var ready = await cluster.WaitForConditionAsync("progressing", ConditionTypes.Ready, ConditionStatus.True);

        // The silent registry holds each attempt 15 s (five of them): well past the guard before any failure is known.
        await cluster.PatchSpecAsync("progressing", new JsonObject { ["url"] = $"oci://{silent.HostPort}/team/progressing:v2", ["sha256"] = null });
        var progressing = await cluster.WaitForConditionAsync("progressing", ConditionTypes.Reconciling, ConditionStatus.True);

        var conditions = progressing.Status!.Conditions!;
        Assert.Equal(2, progressing.Status.ObservedGeneration);
        Assert.Equal(ConditionStatus.Unknown, conditions.Find(c => c.Type == ConditionTypes.Ready)!.Status);
        Assert.Equal(ConditionReasons.Progressing, conditions.Find(c => c.Type == ConditionTypes.Ready)!.Reason);
        Assert.Contains($"stays in effect", conditions.Find(c => c.Type == ConditionTypes.Reconciling)!.Message, StringComparison.Ordinal);
        Assert.Equal(ConditionStatus.Unknown, conditions.Find(c => c.Type == ConditionTypes.ModuleVerified)!.Status);
        Assert.Equal(ready.Status!.Revisions!.Stable!.Revision, progressing.Status.Revisions!.Stable!.Revision);
    }

    [Fact]
    public async Task A_plugin_deleted_while_its_module_is_fetched_from_a_registry_that_never_answers_is_finalized_at_once()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var silent = new SilentRegistry();
        await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [silent.HostPort] });
        await cluster.CreateAsync(Cluster.Plugin("doomed", $"oci://{silent.HostPort}/team/doomed:v1"));
        // The fetch starts after the finalizer is on: the delete waits for the operator to remove it.
        await Cluster.EventuallyAsync(() => silent.Accepted > 0, "the operator to connect to the registry");

        await cluster.DeleteAsync("doomed");

        await Cluster.EventuallyAsync(async () => await cluster.GetAsync("doomed") is null, "the plugin to be finalized and gone");
    }

    [Fact]
    public async Task A_plugin_deleted_while_every_worker_waits_on_a_registry_that_never_answers_is_finalized_at_once()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var silent = new SilentRegistry();
        var (url, sha) = cluster.Modules.ProxyWasm("bystander");
        var op = await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [silent.HostPort], Workers = 1 });
        await cluster.CreateAsync(Cluster.Plugin("bystander", url, sha));
        await cluster.WaitForConditionAsync("bystander", ConditionTypes.Ready, ConditionStatus.True);
        // The only worker now waits on the silent registry: 15 s an attempt, five attempts, well past the guard.
        await cluster.CreateAsync(Cluster.Plugin("stuck", $"oci://{silent.HostPort}/team/stuck:v1"));
        await Cluster.EventuallyAsync(() => silent.Accepted > 0, "the operator to connect to the registry");
        var reconciles = op.Host.Reconciles;

        await cluster.DeleteAsync("bystander");

        await Cluster.EventuallyAsync(async () => await cluster.GetAsync("bystander") is null, "the plugin to be finalized and gone");
        Assert.Null(op.Desired.Get("default/bystander"));
        // Finalized without a worker: the one there is still waits on the registry.
        Assert.Equal(reconciles, op.Host.Reconciles);
    }

    [Fact]
    public async Task A_new_generation_whose_module_cannot_be_fetched_yet_is_not_reported_verified_by_the_last_ones_condition()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("regenerated");
        await cluster.StartOperatorAsync();
        await cluster.CreateAsync(Cluster.Plugin("regenerated", url, sha));
        await cluster.WaitForConditionAsync("regenerated", ConditionTypes.Ready, ConditionStatus.True);

        // Same url, a pull secret that does not exist yet: Transient (PullSecretNotFound), and the new spec is unverified.
        await cluster.PatchSpecAsync("regenerated", new JsonObject { ["imagePullSecret"] = "not-yet" });
        var waiting = await cluster.WaitForConditionAsync("regenerated", ConditionTypes.Reconciling, ConditionStatus.True);

        var verified = waiting.Status!.Conditions!.Find(c => c.Type == ConditionTypes.ModuleVerified)!;
        Assert.Equal(ConditionStatus.Unknown, verified.Status);
        Assert.Equal(2, verified.ObservedGeneration);
    }

    [Fact]
    public async Task During_a_registry_outage_a_module_pulled_Always_stays_verified_while_re_resolving_it_fails()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        await using var front = new TcpCutter(new Uri($"http://{registry.HostPort}/"));
        var host = front.Url.Authority;
        var (url, sha) = cluster.Modules.ProxyWasm("always-outage");
        await registry.PushAsync("team/always", "v1", File.ReadAllBytes(cluster.Modules.PathOf(url)));
        await cluster.StartOperatorAsync(cluster.Options() with { InsecureRegistries = [host], AlwaysPullInterval = TimeSpan.FromMilliseconds(300) });
        var plugin = Cluster.Plugin("always-outage", $"oci://{host}/team/always:v1");
        plugin["spec"]!["imagePullPolicy"] = "Always";
        await cluster.CreateAsync(plugin);
        var ready = await cluster.WaitForConditionAsync("always-outage", ConditionTypes.Ready, ConditionStatus.True);

        front.Pause();
        var failing = await cluster.WaitForConditionAsync("always-outage", ConditionTypes.Reconciling, ConditionStatus.True);

        var verified = failing.Status!.Conditions!.Find(c => c.Type == ConditionTypes.ModuleVerified)!;
        Assert.Equal(ConditionStatus.True, verified.Status);
        Assert.Contains($"module sha256:{sha} verified", verified.Message, StringComparison.Ordinal);
        Assert.Equal(ready.Status!.Conditions!.Find(c => c.Type == ConditionTypes.ModuleVerified)!.LastTransitionTime, verified.LastTransitionTime);
        Assert.Equal($"sha256:{sha}", failing.Status.Module!.ModuleDigest);
        Assert.Contains("stays in effect", failing.Status.Conditions.Find(c => c.Type == ConditionTypes.Ready)!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task During_a_registry_outage_the_plugin_is_Reconciling_and_it_becomes_Ready_when_the_registry_returns()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var registry = await Registry.StartAsync();
        // The operator reaches the registry through a forwarder that holds the port through the outage
        // (a restarted registry process could find its port taken by another test).
        await using var front = new TcpCutter(new Uri($"http://{registry.HostPort}/"));
        var host = front.Url.Authority;
        var (url, sha) = cluster.Modules.ProxyWasm("outage");
        await registry.PushAsync("team/outage", "v1", File.ReadAllBytes(cluster.Modules.PathOf(url)));
        // A short cooldown: the fetch that fails opens the registry's circuit breaker, and the plugin waits it out.
        var op = await cluster.StartOperatorAsync(cluster.Options() with
        {
            InsecureRegistries = [host],
            Registry = new() { CircuitBreakerCooldown = TimeSpan.FromSeconds(1), CircuitBreakerMaxCooldown = TimeSpan.FromSeconds(1) },
        });
        front.Pause();

        await cluster.CreateAsync(Cluster.Plugin("outage", $"oci://{host}/team/outage:v1"));
        // First in progress (the fetch retries for longer than the operator waits before saying so), then failed; the
        // next pass finds the registry's breaker open.
        WasmPlugin? waiting = null;
        await Cluster.EventuallyAsync(async () =>
            (waiting = await cluster.GetAsync("outage"))?.Status?.Conditions?.Find(c => c.Type == ConditionTypes.Reconciling)?.Reason
                is ConditionReasons.FetchFailed or ConditionReasons.RegistryUnavailable,
            "the fetch to fail");
        front.Resume();
        var ready = await cluster.WaitForConditionAsync("outage", ConditionTypes.Ready, ConditionStatus.True);

        Assert.Equal(ConditionStatus.True, waiting!.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Reconciling)!.Status);
        Assert.Equal(ConditionStatus.False, waiting.Status.Conditions.Find(c => c.Type == ConditionTypes.Stalled)!.Status);
        Assert.Equal($"sha256:{sha}", ready.Status!.Module!.ModuleDigest);
        Assert.NotNull(op.Desired.Get("default/outage"));
    }
}
