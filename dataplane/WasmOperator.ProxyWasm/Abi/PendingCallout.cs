namespace WasmOperator.ProxyWasm.Abi;

/// <summary>
/// An HTTP or unary gRPC call in flight, owned by the root context: the cancellation the proxy got, linked to
/// the shard's (the plugin going away cancels it).
/// </summary>
internal sealed class PendingCallout(CancellationToken shardCancellation)
{
    private readonly CancellationTokenSource _cancellation = CancellationTokenSource.CreateLinkedTokenSource(shardCancellation);

    public CancellationToken Token => _cancellation.Token;

    /// <summary>Abandons the call: the proxy stops it; its completion finds no token and is dropped.</summary>
    public void Cancel()
    {
        try
        {
            _cancellation.Cancel();
        }
        catch (AggregateException)
        {
            // A proxy's cancellation callback failed; the call is abandoned all the same.
        }
        finally
        {
            _cancellation.Dispose();
        }
    }

    /// <summary>The call completed: unlinks from the shard's cancellation.</summary>
    public void Complete() => _cancellation.Dispose();
}
