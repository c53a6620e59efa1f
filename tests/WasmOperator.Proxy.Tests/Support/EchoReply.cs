namespace WasmOperator.Proxy.Tests.Support;

/// <summary>What the test upstream saw, echoed as JSON.</summary>
internal sealed record EchoReply(string Method, string Path, string Protocol, Dictionary<string, string[]> Headers, string Body)
{
    /// <summary>The request target as it arrived, before the upstream's server decoded and normalised it into <see cref="Path"/>.</summary>
    public string? RawTarget { get; init; }

    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var v) ? string.Join(",", v) : null;
}
