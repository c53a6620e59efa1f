using System.Text;
using System.Text.Json;

namespace WasmOperator.Modules.Auth;

/// <summary>Reads a <c>kubernetes.io/dockerconfigjson</c> payload and picks the entry for a registry host.</summary>
internal static class DockerConfig
{
    private static readonly string[] DockerHubAliases = ["docker.io", "index.docker.io", "registry-1.docker.io"];

    /// <summary>Returns the credential for <paramref name="registryHost"/> (host or host:port), or null when none matches.</summary>
    /// <exception cref="FormatException">
    /// The payload is not a dockerconfigjson document. The message never quotes the payload (it is a secret): it says what
    /// is wrong and where, without a subject ("is not valid JSON (line 1, byte 5)"), and has no inner exception.
    /// </exception>
    public static RegistryCredential? Find(ReadOnlyMemory<byte> payload, string registryHost)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(payload);
        }
        catch (JsonException ex)
        {
            // Not ex.Message, nor ex as the inner exception: System.Text.Json quotes the offending token, a piece of the secret.
            throw new FormatException($"is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1})");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("auths", out var auths)
                || auths.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException("has no \"auths\" object (expected a .dockerconfigjson payload)");
            }

            var wanted = Canonical(registryHost);
            foreach (var entry in auths.EnumerateObject())
            {
                if (Canonical(HostOf(entry.Name)) == wanted)
                {
                    return Parse(entry.Value, entry.Name);
                }
            }

            return null;
        }
    }

    private static RegistryCredential Parse(JsonElement entry, string name)
    {
        string? Get(string property) =>
            entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;

        var username = Get("username");
        var password = Get("password");
        if (Get("auth") is { Length: > 0 } auth)
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth));
            }
            catch (FormatException)
            {
                throw new FormatException($"has an entry '{name}' whose \"auth\" field is not base64");
            }

            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                throw new FormatException($"has an entry '{name}' whose \"auth\" field is not base64 of user:password");
            }

            username = decoded[..colon];
            password = decoded[(colon + 1)..];
        }

        var identityToken = Get("identitytoken") ?? Get("identityToken");
        return new RegistryCredential(username, password, string.IsNullOrEmpty(identityToken) ? null : identityToken);
    }

    private static string HostOf(string key)
    {
        var value = key;
        var scheme = value.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            value = value[(scheme + 3)..];
        }

        var slash = value.IndexOf('/', StringComparison.Ordinal);
        return slash >= 0 ? value[..slash] : value;
    }

    private static string Canonical(string host)
    {
        var lower = host.ToLowerInvariant();
        return Array.IndexOf(DockerHubAliases, lower) >= 0 ? "docker.io" : lower;
    }
}
