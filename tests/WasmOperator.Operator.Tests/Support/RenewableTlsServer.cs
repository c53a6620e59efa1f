using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace WasmOperator.Operator.Tests.Support;

/// <summary>
/// An https server on 127.0.0.1 that answers every GET with one module, over TLS with certificates issued by its own CA:
/// the test trusts <see cref="Authority"/> and decides when the server presents which certificate (an expired one,
/// then its renewal), as an operator renews a certificate without any change to the plugin. Or one that presents a
/// self-signed certificate no client trusts: every connection gets the TLS handshake and nothing more.
/// </summary>
internal sealed class RenewableTlsServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly RSA _authorityKey = RSA.Create(2048);
    private readonly byte[] _module;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<X509Certificate2> _issued = [];
    private readonly Task _accepting;
    private X509Certificate2 _current;
    private int _handshakes;

    /// <summary>A server no client trusts: its certificate is self-signed.</summary>
    public static RenewableTlsServer Untrusted() => new([], FirstCertificate.SelfSigned);

    public RenewableTlsServer(byte[] module, bool expired)
        : this(module, expired ? FirstCertificate.Expired : FirstCertificate.Current)
    {
    }

    private RenewableTlsServer(byte[] module, FirstCertificate first)
    {
        _module = module;
        var request = new CertificateRequest("CN=wasmop test CA", _authorityKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        Authority = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(30));
        _current = first == FirstCertificate.SelfSigned ? SelfSigned() : Issue(first == FirstCertificate.Expired);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>The CA every certificate of this server is issued by (public part only).</summary>
    public X509Certificate2 Authority { get; }

    public string HostPort => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Connections whose TLS handshake began.</summary>
    public int Handshakes => Volatile.Read(ref _handshakes);

    /// <summary>From the next connection on, the server presents a new, current certificate for 127.0.0.1.</summary>
    public void Renew() => Volatile.Write(ref _current, Issue(expired: false));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        foreach (var certificate in _issued)
        {
            certificate.Dispose();
        }

        Authority.Dispose();
        _authorityKey.Dispose();
        _stop.Dispose();
    }

    private enum FirstCertificate
    {
        Current,
        Expired,
        SelfSigned,
    }

    /// <summary>A server certificate request for 127.0.0.1.</summary>
    private static CertificateRequest ServerRequest(RSA key)
    {
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        return request;
    }

    private X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        using var certificate = ServerRequest(key).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var loaded = X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
        _issued.Add(loaded);
        return loaded;
    }

    private X509Certificate2 Issue(bool expired)
    {
        using var key = RSA.Create(2048);
        var request = ServerRequest(key);
        var notBefore = expired ? DateTimeOffset.UtcNow.AddDays(-20) : DateTimeOffset.UtcNow.AddDays(-1);
        var notAfter = expired ? DateTimeOffset.UtcNow.AddDays(-10) : DateTimeOffset.UtcNow.AddDays(1);
        using var leaf = request.Create(Authority, notBefore, notAfter, RandomNumberGenerator.GetBytes(16));
        using var withKey = leaf.CopyWithPrivateKey(key);
        var loaded = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pfx), null);
        _issued.Add(loaded);
        return loaded;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            Interlocked.Increment(ref _handshakes);
            await using var tls = new SslStream(client.GetStream());
            try
            {
                await tls.AuthenticateAsServerAsync(Volatile.Read(ref _current), false, false);
                // One request per connection: read its head, answer with the module, close.
                var head = new byte[8192];
                var read = 0;
                while (read < head.Length && !Encoding.ASCII.GetString(head, 0, read).Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var n = await tls.ReadAsync(head.AsMemory(read), _stop.Token);
                    if (n == 0)
                    {
                        return;
                    }

                    read += n;
                }

                var response = $"HTTP/1.1 200 OK\r\nContent-Type: application/wasm\r\nContent-Length: {_module.Length}\r\nConnection: close\r\n\r\n";
                await tls.WriteAsync(Encoding.ASCII.GetBytes(response), _stop.Token);
                await tls.WriteAsync(_module, _stop.Token);
            }
            catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException)
            {
                // A refused certificate ends the connection in the handshake, which is what the expired one is for.
            }
        }
    }
}
