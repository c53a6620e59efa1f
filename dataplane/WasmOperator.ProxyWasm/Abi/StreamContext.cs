using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.ProxyWasm.Abi;

/// <summary>ABI state of one stream context inside one VM (cpp-host <c>ContextBase</c> for a stream).</summary>
internal sealed class StreamContext(int id, IHttpStreamHost host)
{
    public int Id { get; } = id;

    public IHttpStreamHost Host { get; } = host;

    /// <summary>True while one of this stream's own callbacks runs: its actions go into the callback result.</summary>
    public bool InCallback { get; set; }

    /// <summary>
    /// The direction whose callback runs (<see cref="InCallback"/>), or null for on_done/on_log: a continue of that
    /// direction is the callback's own return, a continue of the other one is a resume like any other.
    /// </summary>
    public StreamType? Running { get; set; }

    public LocalResponse? PendingLocalResponse { get; set; }

    /// <summary>A local response was sent; later callbacks are not delivered.</summary>
    public bool LocalResponseSent { get; set; }
}
