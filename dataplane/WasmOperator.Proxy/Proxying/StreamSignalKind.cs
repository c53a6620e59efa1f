namespace WasmOperator.Proxy.Proxying;

/// <summary>Kinds of <see cref="StreamSignal"/>.</summary>
internal enum StreamSignalKind
{
    Continue,
    Close,
    LocalResponse,
    Failed,
    TimedOut,
}
