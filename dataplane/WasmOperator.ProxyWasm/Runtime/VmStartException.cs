namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>
/// A VM failed while it started: the step that was running (instantiation, <c>_initialize</c>, <c>_start</c>, the root's
/// <c>proxy_on_context_create</c>, <c>proxy_on_vm_start</c>, <c>proxy_validate_configuration</c>,
/// <c>proxy_on_configure</c>) and the failure, so a load failure names the callback as a per-request failure does.
/// </summary>
internal sealed class VmStartException : Exception
{
    public VmStartException(string callback, TrapKind kind, Exception inner) : base(Describe(kind, inner), inner)
    {
        Callback = callback;
        Kind = kind;
    }

    public VmStartException() { }

    public VmStartException(string message) : base(message) { }

    public VmStartException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The step that was running.</summary>
    public string Callback { get; } = "start";

    public TrapKind Kind { get; }

    public PluginFailure Failure => new(Kind, Callback, Message);

    /// <summary>
    /// The host's reason first (Wasmtime puts it under its backtrace, after "Caused by:"), for a deadline with what to
    /// change, then the backtrace.
    /// </summary>
    private static string Describe(TrapKind kind, Exception inner)
    {
        var text = inner.Message;
        var cause = text.IndexOf("\n\nCaused by:", StringComparison.Ordinal);
        if (inner.InnerException is not GuestTrapException guest || cause < 0)
        {
            return text;
        }

        var advice = kind == TrapKind.Deadline ? " (raise it if the plugin needs longer to start)" : "";
        return $"{guest.Message}{advice}; {text[..cause].TrimEnd()}";
    }
}
