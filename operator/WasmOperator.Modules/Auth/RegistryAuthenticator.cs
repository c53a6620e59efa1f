using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Http;

namespace WasmOperator.Modules.Auth;

/// <summary>
/// Answers registry challenges: Basic with the secret's credentials, or the Bearer token flow
/// (realm, service, scope; <c>token</c> or <c>access_token</c>; <c>expires_in</c>; identity-token refresh),
/// caching tokens per registry, scope and credential.
/// </summary>
internal sealed class RegistryAuthenticator(HttpClient http, HostPolicy hosts)
{
    private static readonly TimeSpan DefaultTokenLifetime = TimeSpan.FromSeconds(60);
    private readonly ConcurrentDictionary<string, AuthChallenge> _challenges = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, (string Token, DateTimeOffset Expires)> _tokens = new(StringComparer.Ordinal);

    /// <summary>An Authorization header usable without a round trip, when one is known.</summary>
    public AuthenticationHeaderValue? TryCached(string registry, string scope, RegistryCredential? credential)
    {
        if (!_challenges.TryGetValue(registry, out var challenge))
        {
            return null;
        }

        if (challenge.IsBasic)
        {
            return credential is { Username: not null } ? Basic(credential) : null;
        }

        return _tokens.TryGetValue(TokenKey(registry, scope, credential), out var cached) && cached.Expires > DateTimeOffset.UtcNow
            ? new AuthenticationHeaderValue("Bearer", cached.Token)
            : null;
    }

    /// <summary>Records how a registry asks for credentials (from the /v2/ ping or any 401).</summary>
    public void Remember(string registry, AuthChallenge challenge) => _challenges[registry] = challenge;

    /// <summary>Gets an Authorization header for the challenge; throws AuthFailureException when that is impossible.</summary>
    public async Task<AuthenticationHeaderValue> AuthorizeAsync(
        FetchAttempt attempt, string url, string registry, string scope, AuthChallenge challenge, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        Remember(registry, challenge);
        if (challenge.IsBasic)
        {
            return credential is { Username: not null }
                ? Basic(credential)
                : throw AuthFailureException.NoCredentialsSent(url, registry, $"registry {registry} requires a username and password");
        }

        if (!challenge.IsBearer)
        {
            throw new AuthFailureException(url, $"registry {registry} asks for unsupported auth scheme '{challenge.Scheme}'");
        }

        // Ask for the scope the registry named, but cache under the scope TryCached is asked for,
        // or a registry that words its scope differently would cost a token round trip per request.
        var token = await FetchTokenAsync(attempt, url, registry, challenge.Get("scope") ?? scope, challenge, credential, cancellationToken);
        PruneExpired();
        _tokens[TokenKey(registry, scope, credential)] = token;
        return new AuthenticationHeaderValue("Bearer", token.Token);
    }

    private void PruneExpired()
    {
        // Rotated secrets and moved repositories leave keys behind; without this the cache only grows.
        var now = DateTimeOffset.UtcNow;
        foreach (var (key, cached) in _tokens)
        {
            if (cached.Expires <= now)
            {
                _tokens.TryRemove(key, out _);
            }
        }
    }

    private async Task<(string Token, DateTimeOffset Expires)> FetchTokenAsync(
        FetchAttempt attempt, string url, string registry, string scope, AuthChallenge challenge, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        var realm = challenge.Get("realm");
        if (realm is null || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri))
        {
            throw new AuthFailureException(url, $"registry {registry} sent a Bearer challenge without a valid realm");
        }

        if (!hosts.MayUse(realmUri))
        {
            throw new AuthFailureException(url, $"token realm {realmUri} uses plain http and its host is not on the insecure allowlist");
        }

        var service = challenge.Get("service");
        using var request = BuildTokenRequest(realmUri, service, scope, credential);
        using var response = await attempt.SendAsync(http, request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            if (credential is not { Username: not null } && credential?.IdentityToken is null)
            {
                throw AuthFailureException.NoCredentialsSent(url, registry, $"token service {realmUri.GetLeftPart(UriPartial.Path)} refused the anonymous request ({(int)response.StatusCode})");
            }

            throw new AuthFailureException(url, $"token service {realmUri.GetLeftPart(UriPartial.Path)} refused the credentials ({(int)response.StatusCode})");
        }

        HttpResponses.ThrowIfTransient(response);
        if (!response.IsSuccessStatusCode)
        {
            throw new AuthFailureException(url, $"token service {realmUri.GetLeftPart(UriPartial.Path)} answered {(int)response.StatusCode}");
        }

        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        string? token;
        var lifetime = DefaultTokenLifetime;
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            token = root.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if (string.IsNullOrEmpty(token) && root.TryGetProperty("access_token", out var a) && a.ValueKind == JsonValueKind.String)
            {
                token = a.GetString();
            }

            if (root.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var seconds) && seconds > 0)
            {
                lifetime = TimeSpan.FromSeconds(seconds);
            }
        }
        catch (JsonException ex)
        {
            throw new AuthFailureException(url, "the token service answered with something other than JSON", ex);
        }

        if (string.IsNullOrEmpty(token))
        {
            throw new AuthFailureException(url, "the token service answer has neither 'token' nor 'access_token'");
        }

        // Renew a little early so a token never expires between the cache check and its use.
        var slack = lifetime > TimeSpan.FromSeconds(20) ? TimeSpan.FromSeconds(10) : TimeSpan.Zero;
        return (token, DateTimeOffset.UtcNow + lifetime - slack);
    }

    private static HttpRequestMessage BuildTokenRequest(Uri realm, string? service, string scope, RegistryCredential? credential)
    {
        if (credential?.IdentityToken is { } refreshToken)
        {
            var form = new List<KeyValuePair<string, string>>
            {
                new("grant_type", "refresh_token"),
                new("refresh_token", refreshToken),
                new("client_id", "wasmoperator"),
                new("scope", scope),
            };
            if (service is not null)
            {
                form.Add(new("service", service));
            }

            return new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) };
        }

        var query = new StringBuilder(realm.Query.Length > 1 ? realm.Query[1..] + "&" : string.Empty);
        if (service is not null)
        {
            query.Append("service=").Append(Uri.EscapeDataString(service)).Append('&');
        }

        query.Append("scope=").Append(Uri.EscapeDataString(scope));
        var uri = new UriBuilder(realm) { Query = query.ToString() }.Uri;
        var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (credential is { Username: not null })
        {
            request.Headers.Authorization = Basic(credential);
        }

        return request;
    }

    private static AuthenticationHeaderValue Basic(RegistryCredential credential) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Password}")));

    private static string TokenKey(string registry, string scope, RegistryCredential? credential) =>
        $"{registry}\n{scope}\n{credential?.CacheKey}";
}
