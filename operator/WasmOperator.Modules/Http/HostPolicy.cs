namespace WasmOperator.Modules.Http;

/// <summary>Which hosts may be reached over plain HTTP (the insecure allowlist).</summary>
internal sealed class HostPolicy(IReadOnlyList<string> insecureHosts)
{
    private readonly HashSet<string> _insecure = new(insecureHosts, StringComparer.OrdinalIgnoreCase);

    /// <summary>True for <c>host</c> or <c>host:port</c> on the allowlist.</summary>
    public bool IsInsecure(string host, int port) =>
        _insecure.Contains(host) || _insecure.Contains($"{host}:{port}");

    /// <summary>https always; http only for allowlisted hosts.</summary>
    public bool MayUse(Uri uri) =>
        uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && IsInsecure(uri.Host, uri.Port));

    /// <summary>Base URI of a registry: http for allowlisted registries, https otherwise.</summary>
    public Uri RegistryBase(string registryHost)
    {
        var probe = new Uri("http://" + registryHost);
        var insecure = _insecure.Contains(registryHost) || _insecure.Contains(probe.Host);
        return new Uri($"{(insecure ? "http" : "https")}://{registryHost}/");
    }
}
