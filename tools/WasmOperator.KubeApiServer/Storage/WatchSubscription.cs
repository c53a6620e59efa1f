using System.Threading.Channels;

namespace WasmOperator.KubeApiServer.Storage;

/// <summary>A live watch on one resource: events arrive in revision order on <see cref="Events"/>.</summary>
internal sealed class WatchSubscription : IDisposable
{
    private readonly ObjectStore _store;
    private readonly Channel<StoreEvent> _channel = Channel.CreateUnbounded<StoreEvent>(new UnboundedChannelOptions { SingleReader = true });

    public WatchSubscription(ObjectStore store, string resourceKey)
    {
        _store = store;
        ResourceKey = resourceKey;
    }

    public string ResourceKey { get; }

    public ChannelReader<StoreEvent> Events => _channel.Reader;

    /// <summary>The events from history (after the requested revision) replayed before live ones.</summary>
    public IReadOnlyList<StoreEvent> Backlog { get; internal set; } = [];

    /// <summary>The store revision at the moment the watch was registered.</summary>
    public long StartRevision { get; internal set; }

    internal void Publish(StoreEvent e) => _channel.Writer.TryWrite(e);

    public void Dispose()
    {
        _store.Unsubscribe(this);
        _channel.Writer.TryComplete();
    }
}
