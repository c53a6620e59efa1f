using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// What the proxy provides for a plugin as a whole: callouts to named upstreams, plugin-level
/// properties and the log sink. Methods may be called on any thread while a VM call runs; a
/// returned task may complete on any thread (the host delivers the result to the VM later).
/// </summary>
public interface IPluginHost
{
    /// <summary>
    /// Sends an HTTP callout. A faulted task is delivered as a failed call (no headers). Throw
    /// <see cref="CalloutRefusedException"/> synchronously to refuse it (unknown cluster, overflow): nothing is delivered.
    /// </summary>
    Task<HttpCalloutResponse> SendHttpCalloutAsync(HttpCalloutRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Sends a unary gRPC callout. A faulted task is delivered as gRPC status 14 (unavailable). Throw
    /// <see cref="CalloutRefusedException"/> synchronously to refuse it: nothing is delivered.
    /// </summary>
    Task<GrpcCalloutResponse> SendGrpcCalloutAsync(GrpcCalloutRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Opens a streaming gRPC callout; report responses through <paramref name="events"/>. Returning null
    /// (the default: streaming not offered) or throwing closes the stream with gRPC status 14 (unavailable), except
    /// a <see cref="CalloutRefusedException"/>, which refuses it: the hostcall fails and nothing is delivered.
    /// </summary>
    IGrpcStream? OpenGrpcStream(GrpcStreamRequest request, IGrpcStreamEvents events) => null;

    /// <summary>Plugin-level properties (node, listener_direction ...); segments joined with '.'.</summary>
    bool TryGetProperty(string path, out byte[] value);

    /// <summary>Receives plugin log lines at or above the plugin's log level (proxy_log and WASI stdout/stderr).</summary>
    void Log(ProxyLogLevel level, string message);

    /// <summary>
    /// One of the plugin's VMs failed: a callback trapped or ran past its CPU deadline or memory limit, whichever it
    /// was (a stream's, on_done/on_log/on_delete, on_tick, a queue event, a callout's answer). Called once per failure,
    /// holding that VM's lock: count it, do not call into the plugin.
    /// </summary>
    void OnVmFailed(PluginFailure failure)
    {
    }

    /// <summary>A failed VM of the plugin was rebuilt from its compiled module, after its backoff. Called holding that VM's lock.</summary>
    void OnVmRebuilt()
    {
    }
}
