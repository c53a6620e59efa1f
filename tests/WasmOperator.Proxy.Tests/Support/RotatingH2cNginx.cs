using System.Diagnostics;
using System.Net.Sockets;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// A real nginx serving h2c (prior knowledge) that ends each client connection with GOAWAY after
/// <c>keepalive_requests</c> streams, as nginx in front of a gRPC service does (1000 by default): streams the client had
/// sent past the GOAWAY's last stream are not processed. It reads each request's body (proxy_pass buffers it, to a
/// second server of its own) and answers 200 <c>application/grpc</c> with <c>grpc-status: 0</c> and no message.
/// </summary>
internal sealed class RotatingH2cNginx : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private RotatingH2cNginx(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    public static async Task<RotatingH2cNginx> StartAsync(int keepaliveRequests)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort.Next();
            var backend = FreePort.Next();
            var directory = Directory.CreateTempSubdirectory("rotating-nginx-").FullName;
            var config = Path.Combine(directory, "nginx.conf");
            await File.WriteAllTextAsync(config, $$"""
                daemon off;
                master_process off;
                pid {{directory}}/nginx.pid;
                error_log {{directory}}/error.log warn;
                events { worker_connections 1024; }
                http {
                    access_log off;
                    client_body_temp_path {{directory}}/body;
                    proxy_temp_path {{directory}}/proxy;
                    server {
                        listen 127.0.0.1:{{port}} http2;
                        keepalive_requests {{keepaliveRequests}};
                        location / {
                            proxy_http_version 1.1;
                            proxy_pass http://127.0.0.1:{{backend}};
                        }
                    }
                    server {
                        listen 127.0.0.1:{{backend}};
                        keepalive_requests 100000;
                        location / {
                            add_header content-type application/grpc;
                            add_header grpc-status 0;
                            return 200 "";
                        }
                    }
                }
                """);
            var process = Process.Start(new ProcessStartInfo("nginx", ["-c", config, "-p", directory]) { RedirectStandardError = true })
                ?? throw new InvalidOperationException("nginx did not start");
            var nginx = new RotatingH2cNginx(process, directory, port);
            if (await nginx.ListensAsync())
            {
                return nginx;
            }

            var error = await process.StandardError.ReadToEndAsync();
            await nginx.DisposeAsync();
            if (attempt == 5 || !error.Contains("Address already in use", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"nginx did not start: {error}");
            }
        }
    }

    /// <summary>Whether nginx took its ports (false once it exited, a port being taken, say).</summary>
    private async Task<bool> ListensAsync()
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!_process.HasExited && DateTime.UtcNow < until)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", Port);
                return true;
            }
            catch (SocketException)
            {
                await Task.Delay(20);
            }
        }

        return false;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
