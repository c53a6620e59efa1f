using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using WasmOperator.Proxy.Configuration;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// A real upstream plus a real proxy in stand-alone mode (plugin file in a temp directory), on
/// free loopback ports, with clients for the data and admin listeners. Disposing stops both and
/// deletes the directory.
/// </summary>
internal sealed class ProxyHarness : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    private ProxyHarness(Upstream upstream, Upstream authorizer, ProxyServer server, string directory, LogSink logs)
    {
        Upstream = upstream;
        Authorizer = authorizer;
        Server = server;
        Directory = directory;
        Logs = logs;
        Client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 64 }) { BaseAddress = new Uri($"http://127.0.0.1:{server.Options.Port}") };
        H2c = new HttpClient(new SocketsHttpHandler { UseProxy = false })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{server.Options.H2cPort}"),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        Admin = new HttpClient { BaseAddress = new Uri($"http://{server.Options.AdminAddress}:{server.Options.AdminPort}") };
    }

    public Upstream Upstream { get; }

    /// <summary>The callout target of cluster <c>authz</c>.</summary>
    public Upstream Authorizer { get; }

    public ProxyServer Server { get; }

    public string Directory { get; }

    public LogSink Logs { get; }

    public HttpClient Client { get; }

    public HttpClient Admin { get; }

    /// <summary>HTTP/2 with prior knowledge to the h2c listener.</summary>
    public HttpClient H2c { get; }

    public string PluginsFile => Path.Combine(Directory, "plugins.yaml");

    public static async Task<ProxyHarness> StartAsync(string pluginsYaml, Action<ProxyOptions>? configure = null)
    {
        var upstream = await Upstream.StartAsync();
        var authorizer = await Upstream.StartAsync(authorizer: true);
        var directory = Path.Combine(Path.GetTempPath(), "proxy-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, "plugins.yaml");
        await File.WriteAllTextAsync(file, pluginsYaml);
        var options = new ProxyOptions
        {
            ListenAddress = IPAddress.Loopback,
            Port = FreePort.Next(),
            AdminPort = FreePort.Next(),
            H2cPort = FreePort.Next(),
            StatusPort = FreePort.Next(),
            PluginsFile = file,
            ShardsPerPlugin = 2,
            PluginsFilePollInterval = TimeSpan.FromMilliseconds(100),
            DrainTimeout = TimeSpan.FromSeconds(10),
        };
        options.Clusters[ProxyOptions.DefaultCluster] = upstream.Address;
        options.Clusters["authz"] = authorizer.Address;
        configure?.Invoke(options);
        var logs = new LogSink();
        var server = await FreePort.RetryAsync(async () =>
        {
            try
            {
                return await ProxyServer.StartAsync(options, b => b.AddProvider(logs));
            }
            catch (IOException)
            {
                (options.Port, options.AdminPort, options.H2cPort) = (FreePort.Next(), FreePort.Next(), FreePort.Next());
                options.StatusPort = options.StatusPort == 0 ? 0 : FreePort.Next();
                throw;
            }
        });
        return new ProxyHarness(upstream, authorizer, server, directory, logs);
    }

    /// <summary>Replaces the plugin file atomically (write a temp file, rename over).</summary>
    public async Task WritePluginsAsync(string yaml)
    {
        var temp = PluginsFile + ".tmp";
        await File.WriteAllTextAsync(temp, yaml);
        File.Move(temp, PluginsFile, overwrite: true);
    }

    public async Task<(HttpResponseMessage Response, EchoReply? Echo)> GetAsync(string path, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return await SendAsync(request);
    }

    public async Task<(HttpResponseMessage Response, EchoReply? Echo)> SendAsync(HttpRequestMessage request, HttpClient? client = null)
    {
        var response = await (client ?? Client).SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        EchoReply? echo = null;
        if (response.Content.Headers.ContentType?.MediaType == "application/json")
        {
            echo = JsonSerializer.Deserialize<EchoReply>(text, Json);
        }

        return (response, echo);
    }

    /// <summary>Polls <paramref name="condition"/> (a state the proxy reaches asynchronously) up to 20 s.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        for (var i = 0; i < 200; i++)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail("timed out waiting for: " + what);
    }

    public async Task<string> MetricsAsync() => await Admin.GetStringAsync("/stats/prometheus");

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        H2c.Dispose();
        Admin.Dispose();
        await Server.StopAsync();
        await Server.DisposeAsync();
        await Upstream.DisposeAsync();
        await Authorizer.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
