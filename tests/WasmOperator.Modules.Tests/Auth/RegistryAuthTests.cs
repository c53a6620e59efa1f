using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Tests.Fixtures;

namespace WasmOperator.Modules.Tests.Auth;

public sealed class RegistryAuthTests : IDisposable
{
    private const string User = "puller";
    private const string Password = "s3cret-pass";
    private readonly TempDirectory _cache = new();

    public void Dispose() => _cache.Dispose();

    private static Task<RegistryProcess> StartHtpasswdRegistryAsync() => RegistryProcess.StartAsync(directory =>
    {
        var path = Path.Combine(directory, "htpasswd");
        File.WriteAllText(path, $"{User}:{BCrypt.Net.BCrypt.HashPassword(Password, 5)}\n");
        return $"  htpasswd:\n    realm: wasmoperator-test\n    path: {path}\n";
    });

    private static AuthenticationHeaderValue BasicHeader(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    private static byte[] SecretWithAuthField(string host, string user, string password) => JsonSerializer.SerializeToUtf8Bytes(
        new { auths = new Dictionary<string, object> { [host] = new { auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")) } } });

    private static byte[] SecretWithFields(string host, string user, string password) => JsonSerializer.SerializeToUtf8Bytes(
        new { auths = new Dictionary<string, object> { [$"http://{host}/v2/"] = new { username = user, password } } });

    [Fact]
    public async Task Htpasswd_Basic_auth_uses_the_pull_secret_entry_for_the_registry_host()
    {
        await using var registry = await StartHtpasswdRegistryAsync();
        using var push = new RegistryPusher(registry.BaseUri, _ => Task.FromResult<AuthenticationHeaderValue?>(BasicHeader(User, Password)));
        var module = TestModules.Create();
        await push.PushCncfAsync("private/plugin", "v1", module);
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort));

        var withAuthField = await fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/private/plugin:v1",
            PullSecret = SecretWithAuthField(registry.HostPort, User, Password),
        }, default);
        var withFields = await fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/private/plugin:v1",
            PullPolicy = ModulePullPolicy.Always,
            PullSecret = SecretWithFields(registry.HostPort, User, Password),
        }, default);

        Assert.Equal(TestModules.Digest(module), withAuthField.ModuleDigest);
        Assert.Equal(TestModules.Digest(module), withFields.ModuleDigest);
    }

    [Fact]
    public async Task A_wrong_password_is_an_auth_failure_that_points_at_the_pull_secret()
    {
        await using var registry = await StartHtpasswdRegistryAsync();
        using var push = new RegistryPusher(registry.BaseUri, _ => Task.FromResult<AuthenticationHeaderValue?>(BasicHeader(User, Password)));
        await push.PushCncfAsync("private/plugin", "v1", TestModules.Create());
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort));

        var error = await Assert.ThrowsAsync<AuthFailureException>(() => fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/private/plugin:v1",
            PullSecret = SecretWithAuthField(registry.HostPort, User, "wrong"),
        }, default));

        Assert.Contains("rejected the credentials", error.Message, StringComparison.Ordinal);
        Assert.Contains("imagePullSecret", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("trUe_SuperSecretPassw0rd_1234567890abcdef", "line 1, byte 3")]
    [InlineData("{\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"cHVsbGVyOnMzY3JldA==\",\n\"password\": nope-s3cret-value}}}", "line 2, byte 14")]
    public async Task A_pull_secret_that_is_not_JSON_is_named_with_the_position_and_none_of_its_text(string payload, string position)
    {
        await using var registry = await StartHtpasswdRegistryAsync();
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort));

        var error = await Assert.ThrowsAsync<AuthFailureException>(() => fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/private/plugin:v1",
            PullSecret = Encoding.UTF8.GetBytes(payload),
            PullSecretName = "team/pull",
        }, default));

        // Status and Events carry the message; a logged exception its inner ones too, which ToString includes.
        foreach (var secretText in new[] { "trUe_SuperSecret", "nope-s3cret-value" })
        {
            Assert.DoesNotContain(secretText, error.ToString(), StringComparison.Ordinal);
        }

        Assert.Contains($"spec.imagePullSecret: Secret team/pull, key .dockerconfigjson, is not valid JSON ({position})", error.Message, StringComparison.Ordinal);
        Assert.Contains("kubectl create secret docker-registry pull -n team", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_matching_secret_entry_a_private_registry_is_an_auth_failure()
    {
        await using var registry = await StartHtpasswdRegistryAsync();
        using var push = new RegistryPusher(registry.BaseUri, _ => Task.FromResult<AuthenticationHeaderValue?>(BasicHeader(User, Password)));
        await push.PushCncfAsync("private/plugin", "v1", TestModules.Create());
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort));

        var withoutSecret = await Assert.ThrowsAsync<AuthFailureException>(() => fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/private/plugin:v1",
        }, default));
        var otherHost = await Assert.ThrowsAsync<AuthFailureException>(() => fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/private/plugin:v1",
            PullSecret = SecretWithAuthField("other.example:5000", User, Password),
        }, default));

        foreach (var error in new[] { withoutSecret, otherHost })
        {
            Assert.Contains($"no credentials were sent, as the plugin has no spec.imagePullSecret or its Secret has no entry for {registry.HostPort}", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_private_module_in_the_cache_is_not_served_to_a_request_without_the_credentials_that_pulled_it()
    {
        await using var registry = await StartHtpasswdRegistryAsync();
        using var push = new RegistryPusher(registry.BaseUri, _ => Task.FromResult<AuthenticationHeaderValue?>(BasicHeader(User, Password)));
        var manifest = await push.PushCncfAsync("team/private", "v1", TestModules.Create());
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort));
        var url = $"oci://{registry.HostPort}/team/private:v1";
        await fetcher.FetchAsync(new ModuleRequest { Url = url, PullSecret = SecretWithAuthField(registry.HostPort, User, Password) }, default);

        var anonymous = await Assert.ThrowsAsync<AuthFailureException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));
        var wrongPassword = await Assert.ThrowsAsync<AuthFailureException>(() => fetcher.FetchAsync(new ModuleRequest
        {
            Url = url,
            PullSecret = SecretWithAuthField(registry.HostPort, User, "wrong"),
        }, default));
        var byDigest = await Assert.ThrowsAsync<AuthFailureException>(() => fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/team/private@{manifest}",
        }, default));
        var bySha256 = await Assert.ThrowsAsync<AuthFailureException>(() => fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/team/other:v1",
            Sha256 = manifest[7..],
        }, default));

        Assert.Contains("requires a username and password", anonymous.Message, StringComparison.Ordinal);
        Assert.Contains("rejected the credentials", wrongPassword.Message, StringComparison.Ordinal);
        Assert.Contains("requires a username and password", byDigest.Message, StringComparison.Ordinal);
        Assert.Contains("requires a username and password", bySha256.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_private_module_is_served_from_the_cache_to_its_pull_secret_without_asking_the_registry_again_after_a_restart()
    {
        await using var registry = await StartHtpasswdRegistryAsync();
        using var push = new RegistryPusher(registry.BaseUri, _ => Task.FromResult<AuthenticationHeaderValue?>(BasicHeader(User, Password)));
        var module = TestModules.Create();
        await push.PushCncfAsync("team/private", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(registry.BaseUri);
        var request = new ModuleRequest
        {
            Url = $"oci://{proxy.HostPort}/team/private:v1",
            PullSecret = SecretWithAuthField(proxy.HostPort, User, Password),
        };
        using (var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, proxy.HostPort)))
        {
            await fetcher.FetchAsync(request, default);
            var (manifests, blobs) = (proxy.ManifestGets, proxy.BlobGets);

            var again = await fetcher.FetchAsync(request, default);

            Assert.True(again.FromCache);
            Assert.Equal(TestModules.Digest(module), again.ModuleDigest);
            Assert.Equal(manifests, proxy.ManifestGets);
            Assert.Equal(blobs, proxy.BlobGets);
        }

        using var restarted = new ModuleFetcher(FetcherFactory.Options(_cache.Path, proxy.HostPort));
        var blobsBefore = proxy.BlobGets;
        var manifestsBefore = proxy.ManifestGets;

        var afterRestart = await restarted.FetchAsync(request, default);
        var manifestsAfterRestart = proxy.ManifestGets;
        var thenAgain = await restarted.FetchAsync(request, default);

        Assert.True(afterRestart.FromCache);
        Assert.True(thenAgain.FromCache);
        Assert.Equal(TestModules.Digest(module), thenAgain.ModuleDigest);
        Assert.Equal(blobsBefore, proxy.BlobGets);
        // The verification is kept with the cache: the restarted fetcher does not ask again.
        Assert.Equal(manifestsBefore, manifestsAfterRestart);
        Assert.Equal(manifestsAfterRestart, proxy.ManifestGets);
        await Assert.ThrowsAsync<AuthFailureException>(() => restarted.FetchAsync(request with { PullSecret = null }, default));
    }

    [Fact]
    public async Task After_a_restart_a_private_module_verified_before_is_served_while_the_registry_is_down_to_its_credential_only()
    {
        await using var registry = await StartHtpasswdRegistryAsync();
        using var push = new RegistryPusher(registry.BaseUri, _ => Task.FromResult<AuthenticationHeaderValue?>(BasicHeader(User, Password)));
        var module = TestModules.Create();
        await push.PushCncfAsync("team/private", "v1", module);
        var request = new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/team/private:v1",
            PullSecret = SecretWithAuthField(registry.HostPort, User, Password),
        };
        using (var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort)))
        {
            await fetcher.FetchAsync(request, default);
        }

        await registry.StopAsync();
        using var restarted = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort));

        var served = await restarted.FetchAsync(request, default);
        var otherPassword = await Assert.ThrowsAnyAsync<ModuleFetchException>(() => restarted.FetchAsync(request with
        {
            PullSecret = SecretWithAuthField(registry.HostPort, User, "other-pass"),
        }, default));
        var anonymous = await Assert.ThrowsAnyAsync<ModuleFetchException>(() => restarted.FetchAsync(request with { PullSecret = null }, default));

        Assert.True(served.FromCache);
        Assert.Equal(TestModules.Digest(module), served.ModuleDigest);
        Assert.Matches("not reachable|refused the connection", otherPassword.Message);
        Assert.Matches("not reachable|refused the connection", anonymous.Message);
    }

    [Fact]
    public async Task A_kept_pull_verification_expires_after_its_lifetime()
    {
        await using var registry = await StartHtpasswdRegistryAsync();
        using var push = new RegistryPusher(registry.BaseUri, _ => Task.FromResult<AuthenticationHeaderValue?>(BasicHeader(User, Password)));
        await push.PushCncfAsync("team/private", "v1", TestModules.Create());
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        // The default lifetime: 24 hours.
        ModuleFetcher Start() => new(FetcherFactory.Options(_cache.Path, time, registry.HostPort));
        var request = new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/team/private:v1",
            PullSecret = SecretWithAuthField(registry.HostPort, User, Password),
        };
        using (var fetcher = Start())
        {
            await fetcher.FetchAsync(request, default);
        }

        await registry.StopAsync();
        time.Advance(TimeSpan.FromHours(23));
        using (var withinLifetime = Start())
        {
            Assert.True((await withinLifetime.FetchAsync(request, default)).FromCache);
        }

        time.Advance(TimeSpan.FromHours(2));
        using var expired = Start();

        var error = await Assert.ThrowsAnyAsync<ModuleFetchException>(() => expired.FetchAsync(request, default));
        Assert.Matches("not reachable|refused the connection", error.Message);
    }

    [Fact]
    public async Task Kept_pull_verifications_hold_no_credential_and_their_key_is_readable_by_the_owner_only()
    {
        await using var registry = await StartHtpasswdRegistryAsync();
        using var push = new RegistryPusher(registry.BaseUri, _ => Task.FromResult<AuthenticationHeaderValue?>(BasicHeader(User, Password)));
        var manifest = await push.PushCncfAsync("team/private", "v1", TestModules.Create());
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort));
        var secret = SecretWithAuthField(registry.HostPort, User, Password);

        await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{registry.HostPort}/team/private:v1", PullSecret = secret }, default);

        var kept = await File.ReadAllTextAsync(Path.Combine(_cache.Path, "pull-verifications.json"));
        Assert.Contains(manifest, kept, StringComparison.Ordinal);
        Assert.Contains("team/private", kept, StringComparison.Ordinal);
        foreach (var credential in (string[])[User, Password, Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"))])
        {
            Assert.DoesNotContain(credential, kept, StringComparison.Ordinal);
        }

        var keyMode = OperatingSystem.IsWindows() ? (UnixFileMode?)null : File.GetUnixFileMode(Path.Combine(_cache.Path, "pull-verifications.key"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, keyMode);
    }

    [Fact]
    public async Task Blob_redirects_are_followed_without_forwarding_the_registry_credentials()
    {
        await using var registry = await StartHtpasswdRegistryAsync();
        using var push = new RegistryPusher(registry.BaseUri, _ => Task.FromResult<AuthenticationHeaderValue?>(BasicHeader(User, Password)));
        var module = TestModules.Create();
        await push.PushCncfAsync("private/plugin", "v1", module);
        await using var proxy = await FaultProxy.StartAsync(registry.BaseUri);
        proxy.RedirectBlobs = true;
        proxy.RedirectUpstreamAuthorization = BasicHeader(User, Password).ToString();
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, proxy.HostPort));

        var fetched = await fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{proxy.HostPort}/private/plugin:v1",
            PullSecret = SecretWithAuthField(proxy.HostPort, User, Password),
        }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        Assert.Equal(1, proxy.RedirectedRequests);
        Assert.Equal(0, proxy.RedirectedWithAuthorization);
    }

    [Fact]
    public async Task Bearer_token_flow_against_the_registry_token_service_fetches_and_caches_the_token()
    {
        await using var issuer = await TokenIssuer.StartAsync(User, Password);
        await using var registry = await RegistryProcess.StartAsync(directory =>
            $"  token:\n    realm: {issuer.Realm}\n    service: {TokenIssuer.Service}\n    issuer: {TokenIssuer.Issuer}\n    rootcertbundle: {issuer.WriteRootBundle(directory)}\n");
        using var push = new RegistryPusher(registry.BaseUri, scope => Task.FromResult<AuthenticationHeaderValue?>(new("Bearer", issuer.Mint(scope))));
        var module = TestModules.Create();
        await push.PushCncfAsync("team/plugin", "v1", module);
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort, issuer.HostPort));
        var request = new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/team/plugin:v1",
            PullPolicy = ModulePullPolicy.Always,
            PullSecret = SecretWithAuthField(registry.HostPort, User, Password),
        };

        var first = await fetcher.FetchAsync(request, default);
        var second = await fetcher.FetchAsync(request, default);

        Assert.Equal(TestModules.Digest(module), first.ModuleDigest);
        Assert.Equal(first.ManifestDigest, second.ManifestDigest);
        Assert.Equal(1, issuer.TokensIssued);
    }

    [Fact]
    public async Task A_token_service_refusing_the_password_is_an_auth_failure()
    {
        await using var issuer = await TokenIssuer.StartAsync(User, Password);
        await using var registry = await RegistryProcess.StartAsync(directory =>
            $"  token:\n    realm: {issuer.Realm}\n    service: {TokenIssuer.Service}\n    issuer: {TokenIssuer.Issuer}\n    rootcertbundle: {issuer.WriteRootBundle(directory)}\n");
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort, issuer.HostPort));

        var error = await Assert.ThrowsAsync<AuthFailureException>(() => fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/team/plugin:v1",
            PullSecret = SecretWithAuthField(registry.HostPort, User, "wrong"),
        }, default));

        Assert.Contains("refused the credentials", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, issuer.TokensIssued);
    }

    [Fact]
    public async Task A_token_service_refusing_an_anonymous_request_says_no_credentials_were_sent_and_how_to_give_them()
    {
        await using var issuer = await TokenIssuer.StartAsync(User, Password);
        await using var registry = await RegistryProcess.StartAsync(directory =>
            $"  token:\n    realm: {issuer.Realm}\n    service: {TokenIssuer.Service}\n    issuer: {TokenIssuer.Issuer}\n    rootcertbundle: {issuer.WriteRootBundle(directory)}\n");
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort, issuer.HostPort));

        var withoutSecret = await Assert.ThrowsAsync<AuthFailureException>(() => fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/team/plugin:v1",
        }, default));
        var otherHost = await Assert.ThrowsAsync<AuthFailureException>(() => fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/team/plugin:v1",
            PullSecret = SecretWithAuthField("other.example:5000", User, Password),
        }, default));

        foreach (var error in new[] { withoutSecret, otherHost })
        {
            Assert.DoesNotContain("refused the credentials", error.Message, StringComparison.Ordinal);
            Assert.Contains("refused the anonymous request (401)", error.Message, StringComparison.Ordinal);
            Assert.Contains($"no credentials were sent, as the plugin has no spec.imagePullSecret or its Secret has no entry for {registry.HostPort}", error.Message, StringComparison.Ordinal);
            Assert.EndsWith($"set spec.imagePullSecret to a Secret of type kubernetes.io/dockerconfigjson in the plugin's namespace with an entry for {registry.HostPort}", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task An_identity_token_in_the_secret_is_exchanged_for_an_access_token()
    {
        await using var issuer = await TokenIssuer.StartAsync(User, Password);
        await using var registry = await RegistryProcess.StartAsync(directory =>
            $"  token:\n    realm: {issuer.Realm}\n    service: {TokenIssuer.Service}\n    issuer: {TokenIssuer.Issuer}\n    rootcertbundle: {issuer.WriteRootBundle(directory)}\n");
        using var push = new RegistryPusher(registry.BaseUri, scope => Task.FromResult<AuthenticationHeaderValue?>(new("Bearer", issuer.Mint(scope))));
        var module = TestModules.Create();
        await push.PushCncfAsync("team/identity", "v1", module);
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort, issuer.HostPort));
        var secret = JsonSerializer.SerializeToUtf8Bytes(new
        {
            auths = new Dictionary<string, object> { [registry.HostPort] = new { username = "<token>", identitytoken = TokenIssuer.IdentityToken } },
        });

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{registry.HostPort}/team/identity:v1", PullSecret = secret }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        Assert.Equal(1, issuer.RefreshExchanges);
    }

    [Fact]
    public async Task An_expired_token_is_fetched_again()
    {
        await using var issuer = await TokenIssuer.StartAsync(User, Password);
        issuer.ExpiresInSeconds = 1;
        await using var registry = await RegistryProcess.StartAsync(directory =>
            $"  token:\n    realm: {issuer.Realm}\n    service: {TokenIssuer.Service}\n    issuer: {TokenIssuer.Issuer}\n    rootcertbundle: {issuer.WriteRootBundle(directory)}\n");
        using var push = new RegistryPusher(registry.BaseUri, scope => Task.FromResult<AuthenticationHeaderValue?>(new("Bearer", issuer.Mint(scope))));
        await push.PushCncfAsync("team/expiring", "v1", TestModules.Create());
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, registry.HostPort, issuer.HostPort));
        var request = new ModuleRequest
        {
            Url = $"oci://{registry.HostPort}/team/expiring:v1",
            PullPolicy = ModulePullPolicy.Always,
            PullSecret = SecretWithAuthField(registry.HostPort, User, Password),
        };

        await fetcher.FetchAsync(request, default);
        var issuedFirst = issuer.TokensIssued;
        await Task.Delay(TimeSpan.FromMilliseconds(1500));
        await fetcher.FetchAsync(request, default);

        Assert.True(issuer.TokensIssued > issuedFirst, "the expired token was reused instead of fetching a new one");
    }
}
