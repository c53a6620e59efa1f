using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>Process-wide settings of the Proxy-Wasm host.</summary>
public sealed record ProxyWasmRuntimeOptions
{
    /// <summary>Directory of the precompiled module cache; null disables it.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Epoch tick: the resolution of callback deadlines.</summary>
    public TimeSpan EpochTick { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// How long a compiled module no plugin runs stays in memory (its machine code and import linker, some hundred
    /// KB), so that a revision that comes back soon, or a reload that keeps the module, compiles nothing. After it
    /// the module is released on the next compile or plugin disposal; the disk cache still has it.
    /// </summary>
    public TimeSpan IdleModuleGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Lowest plugin log level passed to the plugins' log sinks at start (<see cref="ProxyWasmRuntime.PluginLogLevel"/>).</summary>
    public ProxyLogLevel PluginLogLevel { get; init; } = ProxyLogLevel.Info;
}
