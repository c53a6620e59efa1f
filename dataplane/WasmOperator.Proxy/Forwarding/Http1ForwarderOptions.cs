namespace WasmOperator.Proxy.Forwarding;

/// <summary>Limits and timeouts of the HTTP/1.1 fast path.</summary>
internal sealed class Http1ForwarderOptions
{
    /// <summary>No byte moving for this long fails the request with 504 (YARP's default activity timeout).</summary>
    public TimeSpan ActivityTimeout { get; set; } = TimeSpan.FromSeconds(100);

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Idle keep-alive connections older than this are closed rather than reused (below common upstream keep-alive timeouts).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public int MaxIdleConnections { get; set; } = 256;

    /// <summary>Keep idle connections per socket event thread (only meaningful with inline socket completions).</summary>
    public bool ThreadAffinity { get; set; }

    /// <summary>Largest response head (and trailer section) accepted from an upstream.</summary>
    public int MaxResponseHeadBytes { get; set; } = 64 * 1024;
}
