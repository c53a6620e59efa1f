using System.Text.Json.Nodes;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WasmOperator.KubeApiServer.Api;
using WasmOperator.KubeApiServer.Resources;
using WasmOperator.KubeApiServer.Storage;
using WasmOperator.KubeApiServer.Validation;

namespace WasmOperator.KubeApiServer.Hosting;

/// <summary>
/// A Kubernetes-API-compatible server on loopback, for development and tests.
/// <code>await using var server = await LocalKubeApiServer.StartAsync(new LocalKubeApiServerOptions());</code>
/// </summary>
public sealed class LocalKubeApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string? _ownedDirectory;

    private LocalKubeApiServer(WebApplication app, Uri url, string kubeconfigPath, string? ownedDirectory)
    {
        _app = app;
        Url = url;
        KubeconfigPath = kubeconfigPath;
        _ownedDirectory = ownedDirectory;
    }

    /// <summary>The base URL, e.g. http://127.0.0.1:41234/.</summary>
    public Uri Url { get; }

    /// <summary>A kubeconfig pointing at this server (current context, namespace default).</summary>
    public string KubeconfigPath { get; }

    /// <summary>Starts the server and waits until it listens.</summary>
    public static async Task<LocalKubeApiServer> StartAsync(LocalKubeApiServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, options.Port));
        if (!options.HandleProcessSignals)
        {
            builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, EmbeddedLifetime>();
        }

        var app = builder.Build();

        var store = new ObjectStore(options.HistoryLimit, options.DataDirectory);
        var catalog = new ResourceCatalog(SchemaValidatorFactory.Create);
        var service = new ObjectService(store, catalog);
        service.ServeStoredCrds();
        foreach (var ns in (string[])["default", "kube-system", "kube-public", "kube-node-lease"])
        {
            if (store.Get("/namespaces", null, ns) is null)
            {
                service.Create(catalog.Get(string.Empty, "namespaces"), "v1", null, new JsonObject { ["metadata"] = new JsonObject { ["name"] = ns } }, new WriteContext("kube-apiserver", dryRun: false, FieldValidation.Strict));
            }
        }

        var handler = new ApiRequestHandler(service, options.BookmarkInterval, app.Lifetime.ApplicationStopping);
        app.Run(handler.HandleAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var url = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/') + "/");
        string? owned = null;
        var kubeconfig = options.KubeconfigPath;
        if (kubeconfig is null)
        {
            owned = Directory.CreateTempSubdirectory("kubeapi-").FullName;
            kubeconfig = Path.Combine(owned, "kubeconfig");
        }

        KubeconfigWriter.Write(kubeconfig, url);
        return new LocalKubeApiServer(app, url, Path.GetFullPath(kubeconfig), owned);
    }

    /// <summary>A KubernetesClient client for this server.</summary>
    public IKubernetes CreateClient() =>
        new Kubernetes(new KubernetesClientConfiguration { Host = Url.GetLeftPart(UriPartial.Authority), AccessToken = "local-dev-token" });

    /// <summary>Blocks until the server is stopped (process mode).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => _app.WaitForShutdownAsync(cancellationToken);

    /// <summary>Stops the server (open watches end), and deletes the kubeconfig directory it created itself.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        if (_ownedDirectory is not null)
        {
            Directory.Delete(_ownedDirectory, recursive: true);
        }
    }
}
