namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>Thrown by a hostcall to fail the VM (proc_exit, restricted hostcall, missing import).</summary>
internal sealed class GuestTrapException : Exception
{
    public GuestTrapException(TrapKind kind, string message) : base(message) => Kind = kind;

    public GuestTrapException() { }

    public GuestTrapException(string message) : base(message) { }

    public GuestTrapException(string message, Exception inner) : base(message, inner) { }

    public GuestTrapException(TrapKind kind, string message, Exception inner) : base(message, inner) => Kind = kind;

    public TrapKind Kind { get; }
}
