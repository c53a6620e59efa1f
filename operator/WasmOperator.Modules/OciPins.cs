using WasmOperator.Modules.Oci;

namespace WasmOperator.Modules;

/// <summary>What the operator may ask of an OCI reference it recorded itself (status), without trusting the record.</summary>
public static class OciPins
{
    /// <summary>
    /// True when <paramref name="pinned"/> is <paramref name="url"/>'s own repository pinned by digest (the same registry
    /// and repository, <c>@sha256:</c> with 64 lowercase hex characters); <paramref name="digest"/> is that digest. A
    /// record naming another repository, or no valid digest, is not the url's pin, however it came to be in status.
    /// </summary>
    public static bool IsPinOf(string url, string pinned, out string? digest)
    {
        digest = null;
        if (!OciReference.TryParse(url, out var spec, out _) || !OciReference.TryParse(pinned, out var pin, out _)
            || pin!.Digest is null || pin.Tag is not null
            || !string.Equals(spec!.Registry, pin.Registry, StringComparison.Ordinal) || !string.Equals(spec.Repository, pin.Repository, StringComparison.Ordinal))
        {
            return false;
        }

        digest = pin.Digest;
        return true;
    }
}
