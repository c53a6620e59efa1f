using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace WasmOperator.Modules.Tests.Fixtures;

/// <summary>
/// A registry token service inside the test: checks Basic credentials and issues RS256 JWTs whose
/// <c>x5c</c> header carries a self-signed certificate that the registry trusts via rootcertbundle.
/// </summary>
internal sealed class TokenIssuer : IAsyncDisposable
{
    public const string Service = "wasmoperator-test-registry";
    public const string Issuer = "wasmoperator-test-issuer";
    private readonly RSA _key = RSA.Create(2048);
    private readonly X509Certificate2 _certificate;
    private readonly string _username;
    private readonly string _password;
    private LoopbackServer? _server;
    private int _tokensIssued;

    /// <summary>The identity (refresh) token accepted by the OAuth2 POST exchange.</summary>
    public const string IdentityToken = "wasmoperator-test-identity-token";

    private int _refreshExchanges;

    private TokenIssuer(string username, string password)
    {
        _username = username;
        _password = password;
        var request = new CertificateRequest("CN=wasmoperator test token issuer", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    public int TokensIssued => Volatile.Read(ref _tokensIssued);

    public int RefreshExchanges => Volatile.Read(ref _refreshExchanges);

    /// <summary>The <c>expires_in</c> the issuer announces (the JWT itself stays valid for 5 minutes).</summary>
    public int ExpiresInSeconds { get; set; } = 300;

    public Uri Realm => new(_server!.BaseUri, "token");

    public string HostPort => _server!.HostPort;

    public static async Task<TokenIssuer> StartAsync(string username, string password)
    {
        var issuer = new TokenIssuer(username, password);
        issuer._server = await LoopbackServer.StartAsync(issuer.HandleAsync);
        return issuer;
    }

    /// <summary>Writes the PEM bundle the registry's <c>rootcertbundle</c> points at.</summary>
    public string WriteRootBundle(string directory)
    {
        var path = Path.Combine(directory, "token-root.pem");
        File.WriteAllText(path, _certificate.ExportCertificatePem());
        return path;
    }

    /// <summary>Mints a token for <paramref name="scope"/> (<c>repository:name:actions</c>) without a request.</summary>
    public string Mint(string scope)
    {
        var header = new Dictionary<string, object>
        {
            ["typ"] = "JWT",
            ["alg"] = "RS256",
            ["x5c"] = new[] { Convert.ToBase64String(_certificate.RawData) },
        };
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var access = new List<object>();
        foreach (var item in scope.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split(':');
            if (parts.Length == 3)
            {
                access.Add(new { type = parts[0], name = parts[1], actions = parts[2].Split(',') });
            }
        }

        var claims = new Dictionary<string, object>
        {
            ["iss"] = Issuer,
            ["sub"] = _username,
            ["aud"] = Service,
            ["exp"] = now + 300,
            ["nbf"] = now - 10,
            ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"),
            ["access"] = access,
        };
        var signingInput = Base64Url(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + Base64Url(signature);
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _certificate.Dispose();
        _key.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        string scope;
        if (HttpMethods.IsPost(context.Request.Method))
        {
            var form = await context.Request.ReadFormAsync();
            if (form["grant_type"] != "refresh_token" || form["refresh_token"] != IdentityToken || form["service"] != Service)
            {
                context.Response.StatusCode = 401;
                return;
            }

            Interlocked.Increment(ref _refreshExchanges);
            scope = form["scope"].ToString();
            Interlocked.Increment(ref _tokensIssued);
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonSerializer.Serialize(new { access_token = Mint(scope), expires_in = 300 }));
            return;
        }

        var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_username}:{_password}"));
        if (context.Request.Headers.Authorization.ToString() != expected)
        {
            context.Response.StatusCode = 401;
            return;
        }

        if (context.Request.Query["service"] != Service)
        {
            context.Response.StatusCode = 400;
            return;
        }

        Interlocked.Increment(ref _tokensIssued);
        scope = context.Request.Query["scope"].ToString();
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(new { token = Mint(scope), expires_in = ExpiresInSeconds }));
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
