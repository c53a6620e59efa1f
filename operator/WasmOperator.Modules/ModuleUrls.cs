namespace WasmOperator.Modules;

/// <summary>
/// Which kind of source a module url names, read from its scheme: oci:// or no scheme is an OCI reference, https:// and
/// http:// a download, file:// a local file. Schemes match in any case, as the fetcher reads them.
/// </summary>
public static class ModuleUrls
{
    /// <summary>True for an https:// or http:// url: the module is the bytes served there.</summary>
    public static bool IsHttp(string url) =>
        url.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("http://", StringComparison.OrdinalIgnoreCase);

    /// <summary>True for a file:// url.</summary>
    public static bool IsFile(string url) => url.StartsWith("file://", StringComparison.OrdinalIgnoreCase);

    /// <summary>True for an https://, http:// or file:// url: the module is its bytes, pinned by their sha256 (not a manifest digest).</summary>
    public static bool IsDirect(string url) => IsHttp(url) || IsFile(url);

    /// <summary>
    /// True for an OCI reference (oci:// or no scheme) that names a tag, or none (latest), rather than a digest: what it
    /// pulls may move. <paramref name="ociSchemeComparison"/> says how <c>oci://</c> is matched; the pull policy default
    /// matches it <see cref="StringComparison.Ordinal"/>, as the CRD's rules do, where the fetcher takes any case.
    /// </summary>
    public static bool IsOciTag(string url, StringComparison ociSchemeComparison) =>
        (url.StartsWith("oci://", ociSchemeComparison) || !url.Contains("://", StringComparison.Ordinal))
        && !url.Contains('@', StringComparison.Ordinal);

    /// <summary>
    /// The tag an OCI reference without a digest names: what follows the first ':' after the last '/', else "latest".
    /// Read from the text alone, so it answers for a reference the fetcher would refuse too.
    /// </summary>
    public static string TagOf(string url)
    {
        var path = url.StartsWith("oci://", StringComparison.OrdinalIgnoreCase) ? url[6..] : url;
        var lastSlash = path.LastIndexOf('/');
        var colon = path.IndexOf(':', lastSlash + 1);
        return colon < 0 ? "latest" : path[(colon + 1)..];
    }
}
