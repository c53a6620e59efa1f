namespace WasmOperator.Proxy.Configuration;

/// <summary>
/// A plugin's module URL in stand-alone mode: a local file as RFC 8089 writes it, <c>file:///absolute/path</c>, or
/// <c>file://localhost/absolute/path</c>, which names the same file. Another host is refused: <c>file://tmp/x.wasm</c>
/// is <c>/x.wasm</c> on a host named <c>tmp</c> (a slash short, nearly always), which .NET reads as the UNC path
/// <c>\\tmp\x.wasm</c> and which no file of this machine answers to.
/// </summary>
internal static class ModuleUrl
{
    /// <summary>Whether <paramref name="url"/> is a file URL at all (good or not).</summary>
    public static bool IsFile(string url) => url.StartsWith("file:", StringComparison.OrdinalIgnoreCase);

    /// <summary>The local path <paramref name="url"/> names; null, with <paramref name="error"/> saying what to write instead, if none.</summary>
    public static string? LocalPath(string url, out string? error)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !uri.IsFile)
        {
            error = $"url must be a file:// URL in stand-alone mode (the operator resolves oci/http modules), got '{url}'";
            return null;
        }

        if (uri.Host.Length == 0)
        {
            error = null;
            return uri.LocalPath;
        }

        if (string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            error = null;
            return Uri.UnescapeDataString(uri.AbsolutePath);
        }

        // What follows "file://" was meant as the path, nearly always.
        var meant = url.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? "file:///" + url["file://".Length..] : "file:///absolute/path";
        error = $"url '{url}' names the host '{uri.Host}', but a module is a local file: write {meant} (three slashes) " +
            "or file://localhost/absolute/path";
        return null;
    }
}
