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
    /// <inheritdoc/>
    public override string ToString() => $"Function: {Callback} failed ({Kind}): {Message}";
}
