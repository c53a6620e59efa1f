namespace WasmOperator.Proxy.Proxying;

/// <summary>Kinds of <see cref="StreamSignal"/>.</summary>
internal enum StreamSignalKind
{
    Continue,
    Close,
    LocalResponse,
    Failed,
    TimedOut,

    /// <summary>The exchange stopped the stream (the other direction answered or closed it) while this direction waited.</summary>
    Ended,
}
