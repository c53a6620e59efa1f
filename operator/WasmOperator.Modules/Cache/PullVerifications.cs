using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using WasmOperator.Modules.Auth;

namespace WasmOperator.Modules.Cache;

/// <summary>
/// Which credential a registry has let pull which manifest from which repository. The cache holds modules for
/// every requester; it answers a request only with a manifest the request's own credential was seen to pull
/// (as KEP-2535 "Ensure Secret Pulled Images" does for the kubelet), so a plugin without the pull secret does not
/// get a private module another namespace fetched. A verification holds for a lifetime
/// (<see cref="ModuleFetcherOptions.PullVerificationLifetime"/>) and is kept next to the module cache, so after a
/// restart the modules verified recently are served while the registry is down. The file holds no credential:
/// each is an HMAC under a random key of this cache, in a file only the operator's user can read.
/// </summary>
internal sealed class PullVerifications
{
    public const string FileName = "pull-verifications.json";
    public const string KeyFileName = "pull-verifications.key";

    // Rotated secrets and new digests only add keys. Past the cap the expired go, then all: that costs one
    // manifest request per credential and never serves anything unverified.
    private const int MaxEntries = 10_000;
    private const int KeyBytes = 32;
    private const string Anonymous = "anonymous";
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Verification> _verified = new(StringComparer.Ordinal);
    private readonly string _path;
    private readonly byte[] _key;
    private readonly TimeSpan _lifetime;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Reads the verifications kept in <paramref name="root"/>, creating its key on first use.</summary>
    public PullVerifications(string root, TimeSpan lifetime, TimeProvider time, ILogger logger)
    {
        _path = Path.Combine(root, FileName);
        _lifetime = lifetime;
        _time = time;
        _logger = logger;
        var keyPath = Path.Combine(root, KeyFileName);
        if (ReadKey(keyPath) is { } key)
        {
            _key = key;
            Load();
        }
        else
        {
            // Verifications under another key (or none) can never match again: they are dropped with it.
            _key = CreateKey(keyPath);
        }
    }

    /// <summary>True when <paramref name="credential"/> (null: anonymous) pulled the manifest from the repository within the lifetime.</summary>
    public bool IsVerified(string repository, string manifestDigest, RegistryCredential? credential)
    {
        var key = Key(repository, manifestDigest, CredentialId(credential));
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            return _verified.TryGetValue(key, out var verification) && IsFresh(verification, now);
        }
    }

    /// <summary>Records that the registry served the manifest of the repository to <paramref name="credential"/>.</summary>
    public void Record(string repository, string manifestDigest, RegistryCredential? credential)
    {
        var credentialId = CredentialId(credential);
        var key = Key(repository, manifestDigest, credentialId);
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            // A plugin pulling every few minutes (policy Always) renews its verification, not the file, each time.
            if (_verified.TryGetValue(key, out var known) && now - known.VerifiedAt < _lifetime / 10)
            {
                return;
            }

            if (_verified.Count >= MaxEntries)
            {
                RemoveExpired(now);
                if (_verified.Count >= MaxEntries)
                {
                    _verified.Clear();
                }
            }

            _verified[key] = new Verification(repository, manifestDigest, credentialId, now);
            Save();
        }
    }

    private bool IsFresh(Verification verification, DateTimeOffset now) => now - verification.VerifiedAt < _lifetime;

    /// <summary>
    /// The credential as an HMAC under this cache's key: equal for equal credentials, and without the key no
    /// password can be tried against it. Each field is length-prefixed (an absent one as -1), so no two
    /// credentials differ only in where one field ends.
    /// </summary>
    private string CredentialId(RegistryCredential? credential)
    {
        if (credential is null)
        {
            return Anonymous;
        }

        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
        Span<byte> length = stackalloc byte[4];
        foreach (var field in (ReadOnlySpan<string?>)[credential.Username, credential.Password, credential.IdentityToken])
        {
            var bytes = field is null ? [] : Encoding.UTF8.GetBytes(field);
            BinaryPrimitives.WriteInt32LittleEndian(length, field is null ? -1 : bytes.Length);
            hmac.AppendData(length);
            hmac.AppendData(bytes);
        }

        // Hex never reads "anonymous".
        return Convert.ToHexStringLower(hmac.GetHashAndReset());
    }

    private static string Key(string repository, string manifestDigest, string credentialId) =>
        $"{repository}\n{manifestDigest}\n{credentialId}";

    private void RemoveExpired(DateTimeOffset now)
    {
        var expired = new List<string>();
        foreach (var (key, verification) in _verified)
        {
            if (!IsFresh(verification, now))
            {
                expired.Add(key);
            }
        }

        foreach (var key in expired)
        {
            _verified.Remove(key);
        }
    }

    private void Load()
    {
        Verification[]? loaded;
        try
        {
            loaded = JsonSerializer.Deserialize<Verification[]>(File.ReadAllBytes(_path));
        }
        catch (FileNotFoundException)
        {
            return;
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            // Lost verifications cost one manifest request per credential, never a module served unverified.
            Log.VerificationsUnreadable(_logger, _path, ex.Message);
            return;
        }

        var now = _time.GetUtcNow();
        foreach (var verification in loaded ?? [])
        {
            if (verification is { Repository: not null, ManifestDigest: not null, Credential: not null } && IsFresh(verification, now))
            {
                _verified[Key(verification.Repository, verification.ManifestDigest, verification.Credential)] = verification;
            }
        }
    }

    private void Save()
    {
        var temp = $"{_path}.{Guid.NewGuid():N}.tmp";
        try
        {
            var now = _time.GetUtcNow();
            var fresh = new List<Verification>(_verified.Count);
            foreach (var verification in _verified.Values)
            {
                if (IsFresh(verification, now))
                {
                    fresh.Add(verification);
                }
            }

            File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(fresh));
            File.Move(temp, _path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // This process still knows them; only a restart would ask the registry again.
            Log.VerificationsNotSaved(_logger, _path, ex.Message);
            File.Delete(temp);
        }
    }

    private static byte[]? ReadKey(string path)
    {
        try
        {
            var key = File.ReadAllBytes(path);
            if (key.Length != KeyBytes)
            {
                return null;
            }

            if (!OperatingSystem.IsWindows() && File.GetUnixFileMode(path) != OwnerOnly)
            {
                File.SetUnixFileMode(path, OwnerOnly);
            }

            return key;
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    private static byte[] CreateKey(string path)
    {
        var key = RandomNumberGenerator.GetBytes(KeyBytes);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            // Created owner-only, never readable by others for a moment.
            options.UnixCreateMode = OwnerOnly;
        }

        using (var stream = new FileStream(temp, options))
        {
            stream.Write(key);
        }

        File.Move(temp, path, overwrite: true);
        return key;
    }

    /// <summary>One verification as kept in the file: no credential, its HMAC.</summary>
    private sealed record Verification(string Repository, string ManifestDigest, string Credential, DateTimeOffset VerifiedAt);
}
