namespace WasmOperator.Proxy.Admin;

/// <summary>Process state the admin endpoints report.</summary>
internal sealed class ServerState
{
    /// <summary>Shutdown began: /ready answers 503 while in-flight requests drain.</summary>
    public bool Draining { get; set; }
}
