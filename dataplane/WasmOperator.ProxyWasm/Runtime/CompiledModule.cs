using Wasmtime;
using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>A module compiled once per digest, with its ABI version and its import linker.</summary>
public sealed class CompiledModule
{
    internal CompiledModule(string digest, AbiVersion abiVersion, Engine engine, Module module, Linker linker, bool fromCache)
    {
        Digest = digest;
        AbiVersion = abiVersion;
        Engine = engine;
        Module = module;
        Linker = linker;
        LoadedFromCache = fromCache;
        foreach (var export in module.Exports)
        {
            if (export is MemoryExport memory)
            {
                MinimumMemoryPages = Math.Max(MinimumMemoryPages, memory.Minimum);
            }
        }

        foreach (var import in module.Imports)
        {
            if (import is MemoryImport memory)
            {
                MinimumMemoryPages = Math.Max(MinimumMemoryPages, memory.Minimum);
            }
        }
    }

    /// <summary><c>sha256:&lt;hex&gt;</c> of the Wasm bytes.</summary>
    public string Digest { get; }

    /// <summary>The ABI version from the marker export.</summary>
    public AbiVersion AbiVersion { get; }

    /// <summary>True when the machine code came from the precompiled disk cache.</summary>
    public bool LoadedFromCache { get; }

    /// <summary>The initial size of the module's memory, in 64 KiB Wasm pages: what a VM needs before its first call.</summary>
    public long MinimumMemoryPages { get; }

    internal Engine Engine { get; }

    internal Module Module { get; }

    internal Linker Linker { get; }

    // The runtime's bookkeeping, under its module gate: plugins running the module, and while none does, when the
    // last one let go (or it was compiled) and its place among the idle ones.
    internal int Users { get; set; }

    internal long IdleSinceMs { get; set; }

    internal LinkedListNode<CompiledModule>? IdleNode { get; set; }

    /// <summary>Released from the runtime's cache and disposed: no plugin may start on it.</summary>
    internal bool Evicted { get; set; }
}
