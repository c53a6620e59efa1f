using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace WasmOperator.Modules.Tests.Fixtures;

/// <summary>
/// Debian's docker-registry (CNCF distribution 2.8) on a free loopback port with its own config and
/// temporary storage. Can be stopped and started again on the same port and storage.
/// </summary>
internal sealed class RegistryProcess : IAsyncDisposable
{
    private const string Binary = "/usr/bin/docker-registry";
    private readonly TempDirectory _directory = new();
    private Process? _process;

    private RegistryProcess(int port)
    {
        Port = port;
    }

    public int Port { get; }

    public string HostPort => $"127.0.0.1:{Port}";

    public Uri BaseUri => new($"{(Tls ? "https" : "http")}://{HostPort}/");

    /// <summary>True when the registry serves https with the certificate given at start.</summary>
    public bool Tls { get; private set; }

    public string Directory => _directory.Path;

    /// <summary>Starts a registry; <paramref name="authYaml"/> is the indented body of the <c>auth:</c> section, or null for none.</summary>
    public static async Task<RegistryProcess> StartAsync(Func<string, string>? authYaml = null, X509Certificate2? tlsCertificate = null)
    {
        // The free port may be taken by someone else before the registry binds it: try a few.
        for (var attempt = 1; ; attempt++)
        {
            var registry = await TryStartAsync(authYaml, tlsCertificate);
            if (registry is not null)
            {
                return registry;
            }

            if (attempt == 3)
            {
                throw new InvalidOperationException("docker-registry could not bind a free loopback port in 3 attempts");
            }
        }
    }

    private static async Task<RegistryProcess?> TryStartAsync(Func<string, string>? authYaml, X509Certificate2? tlsCertificate)
    {
        var registry = new RegistryProcess(FreePort.Next()) { Tls = tlsCertificate is not null };
        var config = new StringBuilder()
            .AppendLine("version: 0.1")
            .AppendLine("log:")
            .AppendLine("  level: error")
            .AppendLine("  accesslog:")
            .AppendLine("    disabled: true")
            .AppendLine("storage:")
            .AppendLine("  filesystem:")
            .AppendLine($"    rootdirectory: {Path.Combine(registry.Directory, "data")}")
            .AppendLine("  delete:")
            .AppendLine("    enabled: true")
            .AppendLine("  maintenance:")
            .AppendLine("    uploadpurging:")
            .AppendLine("      enabled: false")
            .AppendLine("http:")
            .AppendLine($"  addr: {registry.HostPort}")
            .AppendLine("  secret: wasmoperator-test-secret");
        if (tlsCertificate is not null)
        {
            var certificatePath = Path.Combine(registry.Directory, "tls.crt");
            var keyPath = Path.Combine(registry.Directory, "tls.key");
            await File.WriteAllTextAsync(certificatePath, tlsCertificate.ExportCertificatePem());
            using var key = tlsCertificate.GetRSAPrivateKey() ?? throw new InvalidOperationException("the TLS certificate has no RSA key");
            await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());
            config.AppendLine("  tls:").AppendLine($"    certificate: {certificatePath}").AppendLine($"    key: {keyPath}");
        }

        if (authYaml is not null)
        {
            config.AppendLine("auth:").Append(authYaml(registry.Directory));
        }

        await File.WriteAllTextAsync(Path.Combine(registry.Directory, "config.yml"), config.ToString());
        try
        {
            await registry.StartAsync();
            return registry;
        }
        catch (InvalidOperationException ex) when (ex.Message.Contains("address already in use", StringComparison.Ordinal))
        {
            await registry.DisposeAsync();
            return null;
        }
    }

    public async Task StartAsync()
    {
        var info = new ProcessStartInfo(Binary)
        {
            ArgumentList = { "serve", Path.Combine(Directory, "config.yml") },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(info) ?? throw new InvalidOperationException("docker-registry did not start");
        var log = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 200; i++)
        {
            if (process.HasExited)
            {
                // The parameterless wait also drains the redirected output into the log.
                process.WaitForExit();
                _process = null;
                throw new InvalidOperationException($"docker-registry exited with {process.ExitCode}: {log}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(BaseUri, "v2/"));
                if (!response.Headers.Contains("Docker-Distribution-Api-Version"))
                {
                    // After a restart on the same port another process may have taken it.
                    throw new InvalidOperationException($"something other than docker-registry answers on {HostPort}");
                }

                return;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(50);
            }
        }

        throw new InvalidOperationException($"docker-registry did not answer on {HostPort}: {log}");
    }

    public async Task StopAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _directory.Dispose();
    }
}
