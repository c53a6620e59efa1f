using System.Collections.Concurrent;
using WasmOperator.Modules.Auth;

namespace WasmOperator.Modules.Cache;

/// <summary>
/// Which credential a registry has let pull which manifest from which repository. The cache holds modules for
/// every requester; it answers a request only with a manifest the request's own credential was seen to pull
/// (as KEP-2535 "Ensure Secret Pulled Images" does for the kubelet), so a plugin without the pull secret does not
/// get a private module another namespace fetched. Kept in memory: after a restart each credential asks once.
/// </summary>
internal sealed class PullVerifications
{
    // Rotated secrets and new digests only add keys. Past the cap all is forgotten: that costs one manifest
    // request per credential and never serves anything unverified.
    private const int MaxEntries = 10_000;
    private const string Anonymous = "anonymous";
    private readonly ConcurrentDictionary<string, byte> _verified = new(StringComparer.Ordinal);

    /// <summary>True when <paramref name="credential"/> (null: anonymous) pulled the manifest from the repository.</summary>
    public bool IsVerified(string repository, string manifestDigest, RegistryCredential? credential) =>
        _verified.ContainsKey(Key(repository, manifestDigest, credential));

    /// <summary>Records that the registry served the manifest of the repository to <paramref name="credential"/>.</summary>
    public void Record(string repository, string manifestDigest, RegistryCredential? credential)
    {
        if (_verified.Count >= MaxEntries)
        {
            _verified.Clear();
        }

        _verified[Key(repository, manifestDigest, credential)] = 0;
    }

    // CacheKey always holds a '|', so no credential's key is "anonymous".
    private static string Key(string repository, string manifestDigest, RegistryCredential? credential) =>
        $"{repository}\n{manifestDigest}\n{credential?.CacheKey ?? Anonymous}";
}
