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
    }

    /// <summary><c>sha256:&lt;hex&gt;</c> of the Wasm bytes.</summary>
    public string Digest { get; }

    /// <summary>The ABI version from the marker export.</summary>
    public AbiVersion AbiVersion { get; }

    /// <summary>True when the machine code came from the precompiled disk cache.</summary>
    public bool LoadedFromCache { get; }

    internal Engine Engine { get; }

    internal Module Module { get; }

    internal Linker Linker { get; }
}
