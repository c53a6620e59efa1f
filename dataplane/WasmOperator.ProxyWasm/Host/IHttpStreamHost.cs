using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// What the proxy provides for one HTTP stream (request/response pair). The proxy owns the header maps
/// and bodies; the plugin reads and edits them during callbacks. Actions a plugin takes
/// <em>inside</em> a callback of this stream are reported in that callback's <see cref="Plugins.FilterResult"/>;
/// actions that arrive later (from a callout response, a tick or a queue) are delivered through
/// <see cref="ContinueStream"/>, <see cref="SendLocalResponse"/>, <see cref="CloseStream"/> and
/// <see cref="OnPluginFailure"/>. Those may run on any thread, after the VM call returned.
/// </summary>
public interface IHttpStreamHost
{
    /// <summary>
    /// Guards this stream's header maps, trailers and bodies (what <see cref="GetHeaderMap"/> and <see cref="GetBody"/>
    /// hand out, and the properties read from them) against the proxy's own use of them on another thread: a callout's
    /// answer, a tick or a queue event runs on the plugin's VM whenever it comes, while the proxy appends a body chunk or
    /// another plugin's callback edits the same map. Each hostcall that reads or writes them holds it for that hostcall
    /// only; the proxy holds it around each of its own touches, never across a plugin call or an await. Null when the
    /// host needs none (everything on one thread).
    /// </summary>
    Lock? StateLock => null;

    /// <summary>The map of <paramref name="type"/> (request/response headers or trailers), or null if not (yet) available.</summary>
    HeaderMap? GetHeaderMap(MapType type);

    /// <summary>The body buffer of <paramref name="type"/> (request or response body), or null.</summary>
    BodyBuffer? GetBody(BufferType type);

    /// <summary>Stream-level properties (Envoy paths such as <c>request.path</c>, <c>source.address</c>); segments joined with '.'.</summary>
    bool TryGetProperty(string path, out byte[] value);

    /// <summary>Stores a property (Envoy filter state <c>wasm.&lt;path&gt;</c>).</summary>
    bool TrySetProperty(string path, ReadOnlySpan<byte> value);

    /// <summary>The plugin resumed a paused direction (after a callout, say).</summary>
    void ContinueStream(StreamType type);

    /// <summary>The plugin closed a direction (reset the stream).</summary>
    void CloseStream(StreamType type);

    /// <summary>The plugin answered the request itself; processing of this stream stops.</summary>
    void SendLocalResponse(LocalResponse response);

    /// <summary>The VM holding this stream's context failed while the stream was paused; apply the fail strategy.</summary>
    void OnPluginFailure(PluginFailure failure);
}
