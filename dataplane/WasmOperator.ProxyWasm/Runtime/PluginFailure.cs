namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>
/// A VM failure reported to the caller so the proxy can apply the plugin's fail strategy
/// (fail-closed 503, fail-open, reload).
/// </summary>
/// <param name="Kind">Classified cause.</param>
/// <param name="Callback">The export that was running (e.g. <c>proxy_on_request_headers</c>).</param>
/// <param name="Message">Wasmtime's or the host's message.</param>
public sealed record PluginFailure(TrapKind Kind, string Callback, string Message)
{
    /// <summary>
    /// The failure happened while the VM ran another request's callback (or its root's): this request fails with it, as
    /// every stream on a failed Envoy VM does, but did not cause it. Said in the text, so that a log line about this request
    /// does not send whoever reads it looking for a bug in it.
    /// </summary>
    public bool InAnotherStream { get; init; }

    /// <inheritdoc/>
    public override string ToString() =>
        (InAnotherStream ? "its VM shard failed in another request: " : "") + $"Function: {Callback} failed ({Kind}): {Message}";
}
