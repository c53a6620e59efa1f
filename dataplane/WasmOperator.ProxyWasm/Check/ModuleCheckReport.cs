using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.ProxyWasm.Check;

/// <summary>
/// What a module needs and offers, for the operator to accept or reject it before any proxy loads it.
/// <see cref="IsLoadable"/> is the verdict; the lists say why.
/// </summary>
public sealed record ModuleCheckReport
{
    /// <summary><c>sha256:&lt;hex&gt;</c> of the bytes checked.</summary>
    public required string Digest { get; init; }

    /// <summary>The bytes are a valid WebAssembly module for this engine.</summary>
    public required bool IsValidWasm { get; init; }

    /// <summary>Wasmtime's validation error when not valid.</summary>
    public string? ValidationError { get; init; }

    /// <summary>ABI version from the marker export (<see cref="AbiVersion.Unknown"/> if none).</summary>
    public AbiVersion AbiVersion { get; init; }

    /// <summary>Function imports the host provides with the exact signature (<c>module.name</c>).</summary>
    public IReadOnlyList<string> ProvidedImports { get; init; } = [];

    /// <summary>Imports the host knows by name but with another signature; linked to UNIMPLEMENTED stubs.</summary>
    public IReadOnlyList<string> MismatchedImports { get; init; } = [];

    /// <summary>Imports the host does not provide; linked to stubs (WASI: ENOSYS, others trap when called).</summary>
    public IReadOnlyList<string> UnknownImports { get; init; } = [];

    /// <summary>Non-function imports (memories, tables, globals), which this host cannot satisfy.</summary>
    public IReadOnlyList<string> UnsupportedImports { get; init; } = [];

    /// <summary>The module exports its linear memory as <c>memory</c>.</summary>
    public bool ExportsMemory { get; init; }

    /// <summary>The allocator export the host will use (<c>malloc</c>, else <c>proxy_on_memory_allocate</c>), or null.</summary>
    public string? Allocator { get; init; }

    /// <summary>Proxy-Wasm callbacks the module exports.</summary>
    public IReadOnlyList<string> Callbacks { get; init; } = [];

    /// <summary>
    /// The module exports <c>proxy_validate_configuration</c>: its root context checks the plugin
    /// configuration before <c>on_configure</c>, and a rejection is a load error (probe it by passing the
    /// configuration to the check).
    /// </summary>
    public bool ValidatesConfiguration { get; init; }

    /// <summary>
    /// The module imports <c>proxy_call_foreign_function</c>: it may call host functions by name (built-ins
    /// or those the proxy registers; the names are data, not knowable from the module).
    /// </summary>
    public bool CallsForeignFunctions { get; init; }

    /// <summary>Of the candidate root ids probed, those the module started (init, vm_start, validate_configuration, configure) with.</summary>
    public IReadOnlyList<string> ServedRootIds { get; init; } = [];

    /// <summary>Of the candidate root ids probed, those that failed, with the reason.</summary>
    public IReadOnlyDictionary<string, string> RejectedRootIds { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Of <see cref="RejectedRootIds"/>, those whose plugin refused the configuration it was given
    /// (<see cref="Runtime.PluginLoadException.ConfigurationRejected"/>) rather than failing to start.
    /// </summary>
    public IReadOnlySet<string> ConfigurationRejectedRootIds { get; init; } = new HashSet<string>();

    /// <summary>Valid, known ABI, memory and allocator exported, no unsupported imports.</summary>
    public bool IsLoadable => IsValidWasm && AbiVersion != AbiVersion.Unknown && ExportsMemory && Allocator is not null && UnsupportedImports.Count == 0;

    /// <summary>Human-readable problems, empty when loadable.</summary>
    public IReadOnlyList<string> Problems
    {
        get
        {
            var problems = new List<string>();
            if (!IsValidWasm)
            {
                problems.Add($"module {Digest} is not valid WebAssembly: {ValidationError}");
                return problems;
            }

            if (AbiVersion == AbiVersion.Unknown)
            {
                problems.Add("Missing or unknown Proxy-Wasm ABI version: export proxy_abi_version_0_1_0, _0_2_0 or _0_2_1");
            }

            if (!ExportsMemory)
            {
                problems.Add("the module does not export its memory as 'memory'");
            }

            if (Allocator is null)
            {
                problems.Add(ModuleChecker.MissingAllocator);
            }

            foreach (var import in UnsupportedImports)
            {
                problems.Add($"unsupported non-function import {import}");
            }

            return problems;
        }
    }
}
