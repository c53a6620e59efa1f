using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using WasmOperator.Api.Serialization;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.KubeApiServer.Hosting;
using WasmOperator.Operator.Configuration;
using WasmOperator.Operator.Hosting;
using WasmOperator.Operator.Reconciliation;

namespace WasmOperator.Operator.Tests.Support;

/// <summary>
/// A local API server with the WasmPlugin CRD installed, a client for the test, real Wasm modules, and
/// operator replicas started against it (optionally through a <see cref="TcpCutter"/>).
/// </summary>
internal sealed class Cluster : IAsyncDisposable
{
    public static readonly TimeSpan Guard = TimeSpan.FromSeconds(60);
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly string _cacheRoot = Directory.CreateTempSubdirectory("wasmop-cache-").FullName;
    private readonly ILoggerFactory _loggers;


    private Cluster(LocalKubeApiServer server)
    {
        Server = server;
        Client = server.CreateClient();
        _loggers = Log.Factory();
    }

    /// <summary>What the operator replicas of this cluster logged last (shown when a wait gives up).</summary>
    public RecentLog Log { get; } = new();

    public LocalKubeApiServer Server { get; }

    public IKubernetes Client { get; }

    public TestModules Modules { get; } = new();

    public static async Task<Cluster> StartAsync(LocalKubeApiServerOptions? options = null)
    {
        var server = await LocalKubeApiServer.StartAsync(options ?? new LocalKubeApiServerOptions());
        var cluster = new Cluster(server);
        await cluster.InstallCrdAsync();
        await cluster.Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "wasm-system" } });
        return cluster;
    }

    public OperatorOptions Options(string identity = "replica-a") => new()
    {
        Identity = identity,
        CacheDirectory = Path.Combine(_cacheRoot, identity),
        AllowedFileRoots = [Modules.Root],
        Workers = 2,
        LeaseDuration = TimeSpan.FromSeconds(3),
        RenewDeadline = TimeSpan.FromSeconds(2),
        RetryPeriod = TimeSpan.FromMilliseconds(300),
        WatchStallThreshold = TimeSpan.FromSeconds(1),
        WatchReconnectBackoff = TimeSpan.FromMilliseconds(100),
        QueueMaxDelay = TimeSpan.FromSeconds(2),
    };

    /// <summary>Starts an operator replica; it is stopped (gracefully) when the cluster is disposed, unless stopped before.</summary>
    public async Task<Replica> StartOperatorAsync(OperatorOptions? options = null, Uri? via = null, TimeProvider? time = null)
    {
        var client = via is null ? Server.CreateClient()
            : new Kubernetes(new KubernetesClientConfiguration { Host = via.GetLeftPart(UriPartial.Authority), AccessToken = "local-dev-token" });
        var distributor = new InMemoryPluginDistributor();
        var host = new OperatorHost(options ?? Options(), client, _loggers, distributor, time);
        var replica = new Replica(host, distributor, client);
        _owned.Add(replica);
        await host.StartAsync();
        return replica;
    }

    public TcpCutter Cutter()
    {
        var cutter = new TcpCutter(Server.Url);
        _owned.Add(cutter);
        return cutter;
    }

    public static JsonObject Plugin(string name, string url, string? sha256 = null, string ns = "default", JsonObject? config = null)
    {
        var spec = new JsonObject { ["url"] = url, ["pluginName"] = "root" };
        if (sha256 is not null)
        {
            spec["sha256"] = sha256;
        }

        if (config is not null)
        {
            spec["pluginConfig"] = config;
        }

        return new JsonObject
        {
            ["apiVersion"] = WasmPlugin.GroupVersion,
            ["kind"] = WasmPlugin.KindName,
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
            ["spec"] = spec,
        };
    }

    public async Task CreateAsync(JsonObject plugin) =>
        await Client.CustomObjects.CreateNamespacedCustomObjectAsync(plugin, WasmPlugin.Group, WasmPlugin.Version,
            plugin["metadata"]!["namespace"]!.GetValue<string>(), WasmPlugin.Plural);

    public async Task PatchSpecAsync(string name, JsonObject spec, string ns = "default") =>
        await Client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch(new JsonObject { ["spec"] = spec }.ToJsonString(), V1Patch.PatchType.MergePatch),
            WasmPlugin.Group, WasmPlugin.Version, ns, WasmPlugin.Plural, name);

    public async Task DeleteAsync(string name, string ns = "default") =>
        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(WasmPlugin.Group, WasmPlugin.Version, ns, WasmPlugin.Plural, name);

    public async Task<WasmPlugin?> GetAsync(string name, string ns = "default")
    {
        try
        {
            var obj = await Client.CustomObjects.GetNamespacedCustomObjectAsync(WasmPlugin.Group, WasmPlugin.Version, ns, WasmPlugin.Plural, name);
            return ((JsonElement)obj).Deserialize<WasmPlugin>(WasmPluginSerializer.Options);
        }
        catch (k8s.Autorest.HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Polls until <paramref name="check"/> holds; fails with <paramref name="what"/> after the guard (not a timing assertion).</summary>
    /// <summary>
    /// Waits until <paramref name="op"/> has caught up with the plugin as the API server has it and has no pass queued or
    /// running: each add the queue accepted is one reconcile, and the watch events of its own status writes queue more.
    /// </summary>
    public Task QuietAsync(Replica op, string name) =>
        EventuallyAsync(async () =>
        {
            var version = (await GetAsync(name))?.Metadata?.ResourceVersion;
            return op.Host.Cache.Get($"default/{name}")?.Metadata?.ResourceVersion == version
                && op.Host.Reconciles == op.Host.Queue.TotalAdds;
        }, $"the operator to finish its passes of {name}");

    public static Task EventuallyAsync(Func<Task<bool>> check, string what) => EventuallyAsync(check, () => what);

    /// <summary>Polls <paramref name="check"/> until true; on giving up, the message is built then (it can show the last state seen).</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> check, Func<string> what)
    {
        using var guard = new CancellationTokenSource(Guard);
        while (!await check())
        {
            if (guard.IsCancellationRequested)
            {
                Assert.Fail($"gave up waiting: {what()}");
            }

            await Task.Delay(50);
        }
    }

    public static Task EventuallyAsync(Func<bool> check, string what) => EventuallyAsync(() => Task.FromResult(check()), what);

    /// <summary>Waits until the plugin's status describes its current generation with the given condition.</summary>
    public async Task<WasmPlugin> WaitForConditionAsync(string name, string type, ConditionStatus status, string ns = "default")
    {
        WasmPlugin? last = null;
        await EventuallyAsync(async () =>
        {
            last = await GetAsync(name, ns);
            return last?.Status?.ObservedGeneration == last?.Metadata?.Generation
                && last?.Status?.Conditions?.Find(c => c.Type == type)?.Status == status;
        }, () => $"{ns}/{name} to have {type}={status}; last status: {System.Text.Json.JsonSerializer.Serialize(last?.Status, WasmPluginSerializer.Options)}\n" +
                 $"operator log (last lines):\n{Log.Tail()}");
        return last!;
    }

    /// <summary>How many plugins in <paramref name="ns"/> are Ready for their current generation.</summary>
    public async Task<int> CountReadyAsync(string ns = "default")
    {
        var list = (JsonElement)await Client.CustomObjects.ListNamespacedCustomObjectAsync(WasmPlugin.Group, WasmPlugin.Version, ns, WasmPlugin.Plural);
        var ready = 0;
        foreach (var item in list.GetProperty("items").EnumerateArray())
        {
            var plugin = item.Deserialize<WasmPlugin>(WasmPluginSerializer.Options)!;
            if (plugin.Status?.ObservedGeneration == plugin.Metadata?.Generation
                && plugin.Status?.Conditions?.Find(c => c.Type == ConditionTypes.Ready)?.Status == ConditionStatus.True)
            {
                ready++;
            }
        }

        return ready;
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        Client.Dispose();
        _loggers.Dispose();
        await Server.DisposeAsync();
        Modules.Dispose();
        Directory.Delete(_cacheRoot, recursive: true);
    }

    private async Task InstallCrdAsync()
    {
        var crd = YamlJson.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "TestData", "wasmplugin.yaml")));
        using var http = new HttpClient { BaseAddress = Server.Url };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "local-dev-token");
        using var body = new StringContent(crd.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("apis/apiextensions.k8s.io/v1/customresourcedefinitions", body);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }
}
