namespace WasmOperator.Proxy.Admin;

/// <summary>Process state the admin endpoints report.</summary>
internal sealed class ServerState
{
    private volatile bool _draining;

    /// <summary>Shutdown began: /ready answers 503 while connections drain and in-flight requests finish.</summary>
    public bool Draining
    {
        get => _draining;
        set => _draining = value;
    }
}
