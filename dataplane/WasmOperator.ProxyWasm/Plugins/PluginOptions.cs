using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.ProxyWasm.Plugins;

/// <summary>How one plugin (a root context of a module) runs.</summary>
public sealed record PluginOptions
{
    /// <summary>Plugin name (property <c>plugin_name</c>).</summary>
    public required string Name { get; init; }

    /// <summary>
    /// How the host's log lines name the plugin (the proxy: <c>namespace/name</c>, as its own lines and metrics do, where
    /// <see cref="Name"/> is Istio's <c>namespace.name</c>); <see cref="Name"/> when not given.
    /// </summary>
    public string? LogName { get; init; }

    internal string Logged => LogName ?? Name;

    /// <summary>Root id the SDK selects its root context by (property <c>plugin_root_id</c>).</summary>
    public string RootId { get; init; } = "";

    /// <summary>VM id (property <c>plugin_vm_id</c>); plugins with the same vm_id share data and queues.</summary>
    public string VmId { get; init; } = "";

    /// <summary>Plugin configuration (buffer 7 inside <c>on_configure</c>).</summary>
    public byte[] Configuration { get; init; } = [];

    /// <summary>VM configuration (buffer 6 inside <c>on_vm_start</c>).</summary>
    public byte[] VmConfiguration { get; init; } = [];

    /// <summary>Environment variables WASI <c>environ_*</c> exposes (only these).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Functions the plugin may call by name with <c>proxy_call_foreign_function</c>, on top of the
    /// built-ins of <see cref="BuiltInForeignFunctions"/> (a name here replaces a built-in). Unknown
    /// names answer NOT_FOUND.
    /// </summary>
    public IReadOnlyDictionary<string, ForeignFunction> ForeignFunctions { get; init; } = new Dictionary<string, ForeignFunction>();

    /// <summary>Number of VM shards; a stream lives on one; default: processor count.</summary>
    public int Shards { get; init; } = System.Environment.ProcessorCount;

    /// <summary>Linear memory limit per shard: the WasmPlugin's <c>limits.maxMemoryBytes</c>, as load failures name it.</summary>
    public long MemoryLimitBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>
    /// Largest request or response body a plugin may make with <c>proxy_set_buffer_bytes</c>; a write that would grow
    /// the body past it answers BAD_ARGUMENT (the body is host memory, outside <see cref="MemoryLimitBytes"/>). A proxy
    /// passes the limit it buffers bodies for plugins under; default 1 MiB, Envoy's default buffer limit
    /// (<c>per_connection_buffer_limit_bytes</c>).
    /// </summary>
    public int MaxBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>CPU deadline of one callback (epoch interruption): the WasmPlugin's <c>limits.maxCallDuration</c>, as failures name it.</summary>
    public TimeSpan CallDeadline { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a root context that defers its deletion when the plugin is disposed (<c>proxy_on_done</c> returns false:
    /// Rust <c>on_done</c>, Go <c>OnPluginDone</c>, C++ <c>onDone</c>) is kept waiting for its <c>proxy_done</c>. As in
    /// Envoy it keeps its VM meanwhile, with its ticks and callout answers; after the grace <c>proxy_on_delete</c> runs and
    /// the VM is released anyway, with a warning, so a plugin that never calls <c>proxy_done</c> cannot keep old VMs.
    /// Zero: no waiting (on_delete right after on_done, whatever it answered).
    /// </summary>
    public TimeSpan RootDoneGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>First delay before rebuilding a failed shard; doubles per consecutive failure.</summary>
    public TimeSpan RebuildBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Largest rebuild delay.</summary>
    public TimeSpan MaxRebuildBackoff { get; init; } = TimeSpan.FromMinutes(1);
}
