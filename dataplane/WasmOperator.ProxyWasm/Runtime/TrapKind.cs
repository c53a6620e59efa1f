namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>Why a VM failed.</summary>
public enum TrapKind
{
    /// <summary>Any other trap or host-side failure.</summary>
    Other = 0,
    /// <summary><c>unreachable</c> executed (also SDK panics/aborts).</summary>
    Unreachable,
    /// <summary>Out-of-bounds memory or table access.</summary>
    OutOfBounds,
    /// <summary>Call stack exhausted.</summary>
    StackOverflow,
    /// <summary>The per-callback CPU deadline passed (epoch interruption).</summary>
    Deadline,
    /// <summary>The module called WASI <c>proc_exit</c>.</summary>
    ProcExit,
    /// <summary>
    /// Memory could not grow past the shard's limit. Wasmtime answers a refused <c>memory.grow</c>
    /// with -1 and the guest aborts; a trap while doubling the memory would pass the limit is reported as this.
    /// </summary>
    MemoryLimit,
    /// <summary>Arithmetic trap (division by zero, overflow, bad conversion).</summary>
    Arithmetic,
    /// <summary>A hostcall not allowed in this phase (e.g. <c>proxy_done</c> inside the allocator).</summary>
    RestrictedHostcall,
    /// <summary>A call into an import the host does not provide.</summary>
    MissingImport,
    /// <summary>The VM was not usable (failed and waiting for its rebuild backoff).</summary>
    Unavailable,
}
