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

    /// <summary>
    /// Tells Linux <c>perf</c> where the guests' compiled functions are, so a profile names them
    /// (<c>wasm[N]::function[I]</c>, or the module's own names when it kept its name section) instead of anonymous addresses.
    /// A diagnostic, not to leave on: every module compiled adds its functions and none is ever removed (a proxy that
    /// reloads plugins grows the file, and <c>/tmp</c> may be memory), entries of released modules may name addresses
    /// reused since, and the runtime cannot be created where the file cannot be written.
    /// </summary>
    public WasmProfiling Profiling { get; init; } = WasmProfiling.None;
}

/// <summary>How the guests' machine code is made known to a profiler (Wasmtime's profiling strategy).</summary>
public enum WasmProfiling
{
    /// <summary>Not at all (the default).</summary>
    None,

    /// <summary>
    /// <c>/tmp/perf-&lt;pid&gt;.map</c>, read by <c>perf report</c> as it is. The .NET runtime's own map (<c>DOTNET_PerfMapEnabled</c>) is the same
    /// file and one overwrites the other: point the runtime's elsewhere (<c>DOTNET_PerfMapJitDumpPath</c>) and append it.
    /// </summary>
    PerfMap,

    /// <summary><c>jit-&lt;pid&gt;.dump</c> in the working directory, for <c>perf inject --jit</c> (with <c>perf record -k mono</c>).</summary>
    JitDump,
}
