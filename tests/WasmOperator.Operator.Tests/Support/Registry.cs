using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace WasmOperator.Operator.Tests.Support;

/// <summary>
/// Debian's docker-registry on a free loopback port (optionally with htpasswd auth), with a minimal pusher for
/// CNCF Wasm artifacts. Can be stopped and started again on the same port and storage (an outage).
/// </summary>
internal sealed class Registry : IAsyncDisposable
{
    public const string User = "puller";
    public const string Password = "s3cret-pw";
    private readonly string _directory = Directory.CreateTempSubdirectory("wasmop-registry-").FullName;
    private readonly bool _auth;
    private Process? _process;

    private Registry(int port, bool auth)
    {
        Port = port;
        _auth = auth;
    }

    public int Port { get; }

    public string HostPort => $"127.0.0.1:{Port}";

    public static async Task<Registry> StartAsync(bool auth = false)
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var registry = new Registry(port, auth);
        var config = new StringBuilder()
            .AppendLine("version: 0.1")
            .AppendLine("log:\n  level: error\n  accesslog:\n    disabled: true")
            .AppendLine($"storage:\n  filesystem:\n    rootdirectory: {Path.Combine(registry._directory, "data")}")
            .AppendLine($"http:\n  addr: {registry.HostPort}\n  secret: wasmoperator-operator-test");
        if (auth)
        {
            var htpasswd = Path.Combine(registry._directory, "htpasswd");
            await File.WriteAllTextAsync(htpasswd, $"{User}:{BCrypt.Net.BCrypt.HashPassword(Password, 5)}\n");
            config.AppendLine($"auth:\n  htpasswd:\n    realm: operator-test\n    path: {htpasswd}");
        }

        await File.WriteAllTextAsync(Path.Combine(registry._directory, "config.yml"), config.ToString());
        await registry.StartAsync();
        return registry;
    }

    /// <summary>The <c>.dockerconfigjson</c> payload with this registry's credentials.</summary>
    public string DockerConfigJson()
    {
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));
        return "{\"auths\":{\"" + HostPort + "\":{\"auth\":\"" + auth + "\"}}}";
    }

    public async Task StartAsync()
    {
        var info = new ProcessStartInfo("/usr/bin/docker-registry")
        {
            ArgumentList = { "serve", Path.Combine(_directory, "config.yml") },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        _process = Process.Start(info) ?? throw new InvalidOperationException("docker-registry did not start");
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 200; i++)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"docker-registry exited with {_process.ExitCode} (is {HostPort} taken?)");
            }

            try
            {
                using var response = await http.GetAsync(new Uri($"http://{HostPort}/v2/"));
                // Only the registry's own answer counts: after a restart another process may have taken the port.
                if (!response.Headers.Contains("Docker-Distribution-Api-Version"))
                {
                    throw new InvalidOperationException($"something other than docker-registry answers on {HostPort}");
                }

                return;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(50);
            }
        }

        throw new InvalidOperationException($"docker-registry did not answer on {HostPort}");
    }

    public async Task StopAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
        }
    }

    /// <summary>Pushes a CNCF Wasm artifact and returns the manifest digest (sha256:…).</summary>
    public async Task<string> PushAsync(string repository, string tag, byte[] module)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://{HostPort}/") };
        if (_auth)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}")));
        }

        var config = Encoding.UTF8.GetBytes("""{"architecture":"wasm","os":"wasip1","layerDigests":[]}""");
        var configDigest = await PushBlobAsync(http, repository, config);
        var layerDigest = await PushBlobAsync(http, repository, module);
        var manifest = Encoding.UTF8.GetBytes($$"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.wasm.config.v0+json","digest":"{{configDigest}}","size":{{config.Length}}},
             "layers":[{"mediaType":"application/wasm","digest":"{{layerDigest}}","size":{{module.Length}}}]}
            """);
        using var content = new ByteArrayContent(manifest);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
        using var put = await http.PutAsync(new Uri($"v2/{repository}/manifests/{tag}", UriKind.Relative), content);
        put.EnsureSuccessStatusCode();
        return Digest(manifest);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private static string Digest(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static async Task<string> PushBlobAsync(HttpClient http, string repository, byte[] blob)
    {
        var digest = Digest(blob);
        using var start = await http.PostAsync(new Uri($"v2/{repository}/blobs/uploads/", UriKind.Relative), null);
        start.EnsureSuccessStatusCode();
        var location = start.Headers.Location!;
        var target = location.IsAbsoluteUri ? location : new Uri(http.BaseAddress!, location);
        var separator = target.Query.Length > 0 ? "&" : "?";
        using var content = new ByteArrayContent(blob);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var put = await http.PutAsync(new Uri(target + separator + "digest=" + Uri.EscapeDataString(digest)), content);
        put.EnsureSuccessStatusCode();
        return digest;
    }
}
