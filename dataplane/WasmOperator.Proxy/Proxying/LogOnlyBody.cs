using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// A LOG_ONLY plugin's own copy of one direction's body. While the plugin pauses on it, chunks accumulate here and
/// it is called again with the cumulative size, as an enforcing plugin is (Envoy's StopIterationAndBuffer), but the
/// real body has streamed on untouched. The bytes as they came are kept beside the plugin's view of them, to tell
/// what the plugin rewrote.
/// </summary>
internal sealed class LogOnlyBody
{
    private BodyBuffer _received = new();

    /// <summary>The buffer the plugin reads and may rewrite.</summary>
    public BodyBuffer View { get; private set; } = new();

    /// <summary>The plugin paused on this body once already: that is counted once per direction, not per chunk.</summary>
    public bool PauseCounted { get; set; }

    /// <summary>The plugin held more than the proxy buffers: it gets no more of this body.</summary>
    public bool Abandoned { get; private set; }

    /// <summary>
    /// Bytes of <see cref="View"/> kept while the plugin's callbacks wait on its decision, taken from the proxy's
    /// <see cref="DeferredBodyBudget"/>: kept once, in the view alone, until delivered (<see cref="Settle"/>).
    /// </summary>
    public long Kept { get; set; }

    /// <summary>Adds a chunk kept for a callback that waits: to the view alone, one copy while it waits.</summary>
    public void AppendKept(ReadOnlySpan<byte> chunk) => View.Append(chunk);

    /// <summary>The kept bytes are about to be delivered: what the plugin rewrites of them can be told from then on.</summary>
    public void Settle()
    {
        if (_received.Length < View.Length)
        {
            _received.Append(View.Span[_received.Length..]);
        }
    }

    /// <summary>Adds a chunk to what the plugin holds (to nothing when it let the previous ones go).</summary>
    public void Append(ReadOnlySpan<byte> chunk)
    {
        View.Append(chunk);
        _received.Append(chunk);
    }

    /// <summary>True when the last callback rewrote the plugin's view; the rewrite is then what later ones are compared with.</summary>
    public bool TakeRewrite()
    {
        if (View.Span.SequenceEqual(_received.Span))
        {
            return false;
        }

        _received.Clear();
        _received.Append(View.Span);
        return true;
    }

    /// <summary>The plugin let what it held go on: the next chunk starts a new view.</summary>
    public void Clear()
    {
        View.Clear();
        _received.Clear();
    }

    /// <summary>Drops both copies for good.</summary>
    public void Abandon()
    {
        Abandoned = true;
        View = new BodyBuffer();
        _received = new BodyBuffer();
    }
}
