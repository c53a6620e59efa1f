namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>Process-wide settings of the Proxy-Wasm host.</summary>
public sealed record ProxyWasmRuntimeOptions
{
    /// <summary>Directory of the precompiled module cache; null disables it.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Epoch tick: the resolution of callback deadlines.</summary>
    public TimeSpan EpochTick { get; init; } = TimeSpan.FromMilliseconds(10);
}
