namespace WasmOperator.Proxy.Chain;

/// <summary>The last plugin set swapped in: when, from where, and the chain revision it became.</summary>
internal sealed record AppliedSet(DateTimeOffset At, string Source, long Revision);
