using WasmOperator.Modules.Verification;

namespace WasmOperator.Modules.Oci;

/// <summary>A parsed <c>[oci://]registry/repository[:tag][@sha256:digest]</c> reference.</summary>
internal sealed record OciReference(string Registry, string Repository, string? Tag, string? Digest)
{
    /// <summary>What goes after <c>/manifests/</c>: the digest when pinned, else the tag.</summary>
    public string ManifestReference => Digest ?? Tag ?? "latest";

    /// <summary>Host the HTTP API is served on (Docker Hub's API host differs from its name).</summary>
    public string ApiHost => Registry == "docker.io" ? "registry-1.docker.io" : Registry;

    public string Scope => $"repository:{Repository}:pull";

    public string WithDigest(string digest) => $"{Registry}/{Repository}@{digest}";

    public static bool TryParse(string url, out OciReference? reference, out string? error)
    {
        reference = null;
        var rest = url.StartsWith("oci://", StringComparison.OrdinalIgnoreCase) ? url[6..] : url;
        string? digest = null;
        var at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            digest = Sha256Digest.TryNormalize(rest[(at + 1)..]);
            if (digest is null || !rest[(at + 1)..].StartsWith(Sha256Digest.Prefix, StringComparison.Ordinal))
            {
                error = "the digest after '@' must be sha256: followed by 64 lowercase hex characters";
                return false;
            }

            rest = rest[..at];
        }

        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        string registry;
        string path;
        var first = slash < 0 ? rest : rest[..slash];
        if (slash > 0 && (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost" || first.StartsWith('[')))
        {
            registry = first;
            path = rest[(slash + 1)..];
        }
        else
        {
            registry = "docker.io";
            path = slash < 0 ? "library/" + rest : rest;
        }

        string? tag = null;
        var colon = path.LastIndexOf(':');
        if (colon > path.LastIndexOf('/'))
        {
            tag = path[(colon + 1)..];
            path = path[..colon];
        }

        if (path.Length == 0 || !IsRepository(path))
        {
            error = $"'{path}' is not a valid repository name (lowercase letters, digits, '.', '_', '-', '/')";
            return false;
        }

        if (tag is not null && !IsTag(tag))
        {
            error = $"'{tag}' is not a valid tag";
            return false;
        }

        if (tag is null && digest is null)
        {
            tag = "latest";
        }

        reference = new OciReference(registry.ToLowerInvariant(), path, tag, digest);
        error = null;
        return true;
    }

    private static bool IsRepository(string path)
    {
        foreach (var c in path)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '_' or '-' or '/'))
            {
                return false;
            }
        }

        return !path.StartsWith('/') && !path.EndsWith('/') && !path.Contains("//", StringComparison.Ordinal);
    }

    private static bool IsTag(string tag)
    {
        if (tag.Length is 0 or > 128 || tag[0] is '.' or '-')
        {
            return false;
        }

        foreach (var c in tag)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }
}
