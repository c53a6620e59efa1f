namespace WasmOperator.Proxy.Forwarding;

/// <summary>A plain-HTTP cluster endpoint for the fast path: its pool, authority and base path.</summary>
internal sealed class Http1Upstream : IDisposable
{
    internal Http1Upstream(Uri uri, Http1ForwarderOptions options)
    {
        Pool = new Http1ConnectionPool(uri.IdnHost, uri.Port, options.ConnectTimeout, options.IdleTimeout, options.MaxIdleConnections, options.ThreadAffinity);
        Authority = uri.IsDefaultPort ? uri.IdnHost : $"{uri.IdnHost}:{uri.Port}";
        BasePath = uri.AbsolutePath.TrimEnd('/');
    }

    public Http1ConnectionPool Pool { get; }

    /// <summary>Host header when the downstream request had none (HTTP/1.0).</summary>
    public string Authority { get; }

    /// <summary>The cluster URI's path, prefixed to every request path ("" for none).</summary>
    public string BasePath { get; }

    /// <summary>True when the fast path can reach this URI (plain http).</summary>
    public static bool Supports(Uri uri) => uri.Scheme == Uri.UriSchemeHttp;

    public void Dispose() => Pool.Dispose();
}
