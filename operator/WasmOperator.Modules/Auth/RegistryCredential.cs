namespace WasmOperator.Modules.Auth;

/// <summary>Credentials for one registry host, from a dockerconfigjson entry.</summary>
internal sealed record RegistryCredential(string? Username, string? Password, string? IdentityToken)
{
    /// <summary>Identifies the credential in the token cache without holding the secret itself.</summary>
    public string CacheKey => $"{Username}|{Verification.Sha256Digest.Of(System.Text.Encoding.UTF8.GetBytes($"{Username}\n{Password}\n{IdentityToken}"))}";
}
